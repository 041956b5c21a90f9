#!/usr/bin/env bash
# Contracts never break silently: today's WSDL and OpenAPI document against the last
# released ones in contracts/released/ (see contracts/README.md).
# - WSDL: keyport-contracts, our own rule set over the XSD (its tests break copies of it).
# - OpenAPI: Optic's breaking-change rules plus our own (tests/contract/compat.py), which
#   must also refuse a deliberately broken copy of today's document for each kind of break.
# A deliberate break passes only under a new major version (urn:keyport:soap:v2, /api/v2).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/contract/setup.sh
cargo run -q -p keyport-contracts -- contracts/released/keyport.wsdl wsdl/keyport.wsdl
.venv/bin/python tests/contract/compat.py tests/contract/optic/node_modules/.bin/optic \
    contracts/released/openapi.json openapi/openapi.json
