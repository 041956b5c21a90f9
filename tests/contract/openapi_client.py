"""A portal developer's walk-through with a client generated from our OpenAPI document by
openapi-python-client: catalog, an idempotent order, a customer login, activation, the event
feed and errors, each checked as the developer would see it. Run by tests/contract/openapi.sh
against a live server (KEYPORT_BASE, KEYPORT_ADMIN_KEY)."""

import os
import sys

from keyport_rest_api_client import AuthenticatedClient, Client
from keyport_rest_api_client.api.auth import create_session
from keyport_rest_api_client.api.catalog import create_item, create_product, create_rule_set, get_item, list_products
from keyport_rest_api_client.api.customer import create_activation, list_my_licenses
from keyport_rest_api_client.api.customers import create_customer
from keyport_rest_api_client.api.events import list_events
from keyport_rest_api_client.api.field import create_checkin, create_demo
from keyport_rest_api_client.api.orders import create_order, get_order
from keyport_rest_api_client.api.webhooks import create_webhook_endpoint, list_webhook_deliveries
from keyport_rest_api_client.models import (
    CreatedWebhookEndpoint,
    CustomerRequest,
    DemoOutcome,
    DemoRequest,
    EventPage,
    ItemRequest,
    ItemView,
    LicenseModelName,
    LoginRequest,
    MachineRequest,
    OrderCustomerBody,
    OrderLineBody,
    OrderOutcome,
    OrderRequestBody,
    Problem,
    ProductRequest,
    RuleSetParams,
    SignedReportRequest,
    TokenResponse,
    WebhookDeliveryPage,
    WebhookEndpointRequest,
)
from keyport_rest_api_client.types import UNSET

BASE = os.environ["KEYPORT_BASE"]
ADMIN = os.environ["KEYPORT_ADMIN_KEY"]


def expect(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


staff = AuthenticatedClient(base_url=BASE, token=ADMIN)
answer = create_product.sync_detailed(client=staff, body=ProductRequest(code="gen-pro", name="Generated Pro"))
expect(answer.status_code == 201, "a product is created (201)")
expect(bool(answer.headers.get("x-request-id")), "every answer carries x-request-id")
rules = RuleSetParams(
    name="gen-standard", seats=2, deactivation_allowed=True, offline_allowed=True, initial_credits=1,
    blocking_days=0, replenish_credits=0, replenish_every_days=0, credit_cap=1, emergency_days=14,
    emergency_per_year=1, checkin_grace_days=0,
)
expect(create_rule_set.sync_detailed(client=staff, body=rules).status_code == 201, "a rule set is created")
item = ItemRequest(
    sku="GEN-PRO-1", product_code="gen-pro", name="Generated Pro 1", license_model=LicenseModelName.SUBSCRIPTION,
    duration_days=365, features=["export"], version_min=1, rule_set="gen-standard",
)
expect(create_item.sync_detailed(client=staff, body=item).status_code == 201, "an item is created")
got = get_item.sync(client=staff, sku="GEN-PRO-1")
expect(isinstance(got, ItemView) and got.duration_days == 365, "the item reads back with its term")

customer = CustomerRequest(email="gen@example.com", name="Gen", password="generated-password-1")
expect(create_customer.sync_detailed(client=staff, body=customer).status_code == 201, "a customer is created")

order = OrderRequestBody(
    shop="webshop", external_order_number="GEN-1", customer=OrderCustomerBody(email="gen@example.com"),
    lines=[OrderLineBody(line_number=1, sku="GEN-PRO-1", quantity=1)],
)
first = create_order.sync_detailed(client=staff, body=order, idempotency_key="gen-order-1")
expect(first.status_code == 201 and isinstance(first.parsed, OrderOutcome), "the order is created (201)")
again = create_order.sync_detailed(client=staff, body=order, idempotency_key="gen-order-1")
expect(again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true",
       "sending it again with the same Idempotency-Key replays the first answer")
expect(again.parsed.order.ticket_code == first.parsed.order.ticket_code, "the replay names the same ticket")
read = get_order.sync(client=staff, shop="webshop", external_order_number="GEN-1")
expect(read.cancelled_at in (None, UNSET), "a live order shows no cancellation")

public = Client(base_url=BASE)
tokens = create_session.sync(client=public, body=LoginRequest(email="gen@example.com", password="generated-password-1"))
expect(isinstance(tokens, TokenResponse), "the customer logs in without an API key")
wrong = create_session.sync(client=public, body=LoginRequest(email="gen@example.com", password="not-the-password"))
expect(isinstance(wrong, Problem) and wrong.code == "unauthorized", "a wrong password is a problem with a stable code")

me = AuthenticatedClient(base_url=BASE, token=tokens.access_token)
licenses = list_my_licenses.sync(client=me)
expect(isinstance(licenses, list) and len(licenses) == 1, "the customer sees the license of the order")
machine = MachineRequest(fingerprint="sha256:generated-client-machine",
                         machine_key="AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA")
activated = create_activation.sync_detailed(client=me, license_id=licenses[0].id, body=machine)
expect(activated.status_code == 201, "the license activates on a machine (201)")
expect(bool(activated.parsed.certificate), "the activation carries its certificate")

demo_item = ItemRequest(
    sku="GEN-DEMO", product_code="gen-pro", name="Generated Pro demo", license_model=LicenseModelName.DEMO,
    duration_days=14, version_min=1, rule_set="gen-standard", self_service=True,
)
expect(create_item.sync_detailed(client=staff, body=demo_item).status_code == 201, "a self-service demo item is created")
other_machine = MachineRequest(fingerprint="sha256:generated-demo-machine",
                               machine_key="IB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE")
demo = create_demo.sync_detailed(client=public, body=DemoRequest(
    product_code="gen-pro", email="trial@example.com", machine=other_machine))
expect(demo.status_code == 201 and isinstance(demo.parsed, DemoOutcome) and demo.parsed.activation is not None,
       "the software gets a demo activated on its machine without a login (201)")
second = create_demo.sync_detailed(client=public, body=DemoRequest(
    product_code="gen-pro", email="trial2@example.com", machine=other_machine))
expect(second.status_code == 409 and isinstance(second.parsed, Problem) and second.parsed.code == "demo_already_used",
       "a second demo on the same machine is a problem with a stable code")
forged = create_checkin.sync_detailed(client=public, body=SignedReportRequest(proof="a.b.c"))
expect(forged.status_code == 422 and isinstance(forged.parsed, Problem), "a check-in with a broken proof is refused")

page = list_events.sync(client=staff, limit=500)
expect(isinstance(page, EventPage) and any(e.kind == "license_activated" for e in page.items),
       "the event feed shows the activation")
bad = list_events.sync_detailed(client=staff, limit=501)
expect(bad.status_code == 422 and isinstance(bad.parsed, Problem), "a limit above the documented maximum is refused")
create_product.sync_detailed(client=staff, body=ProductRequest(code="gen-second", name="Second"))
first = list_products.sync_detailed(client=staff, limit=1)
cursor = first.headers.get("x-next-cursor")
expect(first.status_code == 200 and len(first.parsed) == 1 and cursor, "a product list pages with limit and X-Next-Cursor")
rest = list_products.sync(client=staff, after=cursor, limit=500)
expect(isinstance(rest, list) and first.parsed[0].code not in [p.code for p in rest], "the next page follows the cursor")
hook = create_webhook_endpoint.sync(client=staff, body=WebhookEndpointRequest(
    url="https://hooks.example.com/keyport", event_kinds=["order_created"]))
expect(isinstance(hook, CreatedWebhookEndpoint) and hook.secret.startswith("whsec_"),
       "a webhook endpoint is registered and its secret shown")
deliveries = list_webhook_deliveries.sync(client=staff, endpoint_id=hook.endpoint.id)
expect(isinstance(deliveries, WebhookDeliveryPage), "its deliveries list as a page")
print("generated client: walk-through passed")
