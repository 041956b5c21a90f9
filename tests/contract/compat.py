"""The contract compatibility check of the test command.

Usage: compat.py OPTIC RELEASED.json CURRENT.json

1. Optic compares the current OpenAPI document with the last released one and must find no
   breaking change, unless the REST base path carries a new major version (/api/v2 after
   /api/v1): a deliberate break, which is reported and allowed.
2. The check itself is tested: Optic must fail on deliberately broken copies of today's
   document, one for each kind of break the contract promises not to make.
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ENV = {**os.environ, "OPTIC_TELEMETRY_LEVEL": "off", "CI": "true"}


def majors(doc: dict) -> set[int]:
    """The major versions a document serves: N of every /api/vN/ path."""
    return {int(m.group(1)) for p in doc["paths"] if (m := re.match(r"^/api/v(\d+)/", p))}


def new_major(released: dict, current: dict) -> int | None:
    """The current document's new major version, if it replaces the released one's: a
    higher /api/vN, and none of the released major's paths left. While both are served side
    by side, the old one must stay compatible."""
    old, now = max(majors(released), default=0), max(majors(current), default=0)
    return now if now > old and old not in majors(current) else None


def optic(binary: str, released: str, current: str) -> tuple[int, str]:
    """Optic's diff; run in a folder of its own, where it leaves its ci-run-details.json."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            [os.path.abspath(binary), "diff", os.path.abspath(released), os.path.abspath(current), "--check"],
            capture_output=True, text=True, env=ENV, timeout=600, cwd=scratch,
        )
    return run.returncode, run.stdout + run.stderr


def breaks(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("x [")]


METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def resolve(doc: dict, node: dict) -> dict:
    """`node`, or what its local `$ref` points at."""
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def parameters(doc: dict, path: str, method: str) -> set[tuple[str, str]]:
    """(name, in) of every parameter of an operation, its path's included."""
    item = doc["paths"][path]
    listed = item.get("parameters", []) + item[method].get("parameters", [])
    return {(p["name"], p["in"]) for p in (resolve(doc, p) for p in listed)}


def properties(doc: dict, schema: dict, prefix: str, seen: frozenset = frozenset()) -> set[str]:
    """Every property a JSON body may carry, as dotted paths (`customer.email`,
    `lines[].sku`), through $ref, oneOf/anyOf/allOf and array items."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if ref in seen:
        return set()
    seen = seen | {ref} if ref else seen
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return set()
    found = set()
    for key in ("oneOf", "anyOf", "allOf"):
        for variant in schema.get(key, []):
            found |= properties(doc, variant, prefix, seen)
    if "items" in schema:
        found |= properties(doc, schema["items"], prefix + "[]", seen)
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found.add(path)
        found |= properties(doc, sub, path, seen)
    return found


def body_properties(doc: dict, path: str, method: str) -> set[str]:
    """Every property of an operation's JSON request body, nested ones too."""
    body = resolve(doc, doc["paths"][path][method].get("requestBody", {}))
    return properties(doc, body.get("content", {}).get("application/json", {}).get("schema", {}), "")


def keyport_rules(released: dict, current: dict) -> list[str]:
    """Our own rules beside Optic's: a parameter, or a request body property, of a released
    operation must stay. Optic lets an optional one go, but Keyport refuses parameters and
    properties it does not know (422), so a client that sends one would break."""
    found = []
    for path, item in released["paths"].items():
        for method in METHODS:
            if method not in item or method not in current["paths"].get(path, {}):
                continue  # a removed operation is Optic's to report
            where = f"{method.upper()} {path}"
            for name, place in sorted(parameters(released, path, method) - parameters(current, path, method)):
                found.append(f"x [keyport: prevent parameter removal] {where}: {place} parameter '{name}' removed")
            for name in sorted(body_properties(released, path, method) - body_properties(current, path, method)):
                found.append(f"x [keyport: prevent request property removal] {where}: request body property '{name}' removed")
    return found


def check(binary: str, released_path: str, current_path: str) -> tuple[int, list[str], str]:
    """Optic's breaking-change rules and ours: (Optic's exit code, every break, Optic's output)."""
    code, out = optic(binary, released_path, current_path)
    released, current = (json.load(open(p)) for p in (released_path, current_path))
    own = keyport_rules(released, current)
    return (code if not own else 1), breaks(out) + own, out


def broken_copies(doc: dict) -> dict:
    """Today's document broken once per promise: name -> (document, what Optic must say)."""
    cases = {}

    def case(name, says, change):
        d = copy.deepcopy(doc)
        change(d)
        cases[name] = (d, says)

    case("a removed path", "cannot remove an operation",
         lambda d: d["paths"].pop("/api/v1/products/{code}"))
    case("a removed parameter", "email_prefix",
         lambda d: d["paths"]["/api/v1/customers"]["get"]["parameters"].__setitem__(
             slice(None), [p for p in d["paths"]["/api/v1/customers"]["get"]["parameters"] if p["name"] != "email_prefix"]))
    case("a removed enum value", "enum",
         lambda d: d["components"]["schemas"]["Role"]["enum"].remove("portal"))
    case("a narrowed type", "type",
         lambda d: d["components"]["schemas"]["RegisterRequest"]["properties"]["language"].__setitem__("type", "string"))
    case("an optional property made required", "required",
         lambda d: d["components"]["schemas"]["RegisterRequest"]["required"].append("language"))
    case("a removed optional request property", "request body property 'language' removed",
         lambda d: d["components"]["schemas"]["RegisterRequest"]["properties"].pop("language"))
    case("a removed optional nested request property", "request body property 'customer.customer_number' removed",
         lambda d: d["components"]["schemas"]["OrderCustomerBody"]["properties"].pop("customer_number"))
    case("a removed response field", "cannot remove response property",
         lambda d: d["components"]["schemas"]["ProductView"]["properties"].pop("name"))
    return cases


def verdict(binary: str, released_path: str, current_path: str) -> tuple[bool, str, list[str]]:
    """Whether the current document may be released after the released one, and why."""
    released, current = (json.load(open(p)) for p in (released_path, current_path))
    code, found, _ = check(binary, released_path, current_path)
    old = max(majors(released), default=0)
    if (major := new_major(released, current)) is not None:
        return True, (f"openapi: /api/v{major} is a new major version of /api/v{old}: "
                      f"{len(found)} breaking change(s) allowed"), found
    if code != 0:
        return False, (f"openapi: {len(found)} breaking change(s) since the released document. A deliberate "
                       f"break needs a new major version: /api/v{old + 1}"), found
    return True, "openapi: compatible with the released document (Optic and Keyport's own rule)", found


def main() -> int:
    binary, released_path, current_path = sys.argv[1:4]
    current = json.load(open(current_path))
    failures = []

    ok, message, found = verdict(binary, released_path, current_path)
    if ok:
        print(message)
    else:
        print("\n".join(found))
        failures.append(message)

    with tempfile.TemporaryDirectory() as tmp:
        cases = broken_copies(current)
        # The same kind of break under a new major version passes, and says so.
        v2 = copy.deepcopy(cases["a removed path"][0])
        v2["paths"] = {p.replace("/api/v1/", "/api/v2/", 1): item for p, item in v2["paths"].items()}
        cases["a removed path under /api/v2"] = (v2, None)
        # While /api/v1 is still served beside /api/v2, it must stay compatible.
        both = copy.deepcopy(cases["a removed path"][0])
        both["paths"].update({p.replace("/api/v1/", "/api/v2/", 1): item for p, item in current["paths"].items()})
        cases["a removed /api/v1 path beside /api/v2"] = (both, "cannot remove an operation")

        def judged(item):
            index, (name, (doc, says)) = item
            path = os.path.join(tmp, f"broken-{index}.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            return (name, says) + verdict(binary, current_path, path)

        # Each Optic run takes seconds, mostly starting up: three at a time.
        with ThreadPoolExecutor(max_workers=3) as pool:
            outcomes = list(pool.map(judged, enumerate(cases.items())))
        for name, says, ok, message, found in outcomes:
            if says is None:
                if ok and "new major version" in message:
                    print(f"ok: {name}: {message}")
                else:
                    failures.append(f"openapi: {name} was not allowed: {message}")
            elif ok or not any(says in b for b in found):
                failures.append(f"openapi: the check let {name} pass: {message} {found}")
            else:
                print(f"ok: the check refuses {name}: {[b for b in found if says in b][0]}")

    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
