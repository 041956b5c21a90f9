"""A web shop's whole SOAP scenario with a client that zeep generates from the served WSDL.

Usage: soap_zeep.py BASE_URL SHOP_KEY SUBSCRIPTION_SKU
"""

import sys

import zeep
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

NS = "{urn:keyport:soap:v1}"


def fault_code(fault: Fault) -> str:
    code = fault.detail.find(f".//{NS}code") if fault.detail is not None else None
    return code.text if code is not None else ""


def expect_fault(call, code: str, what: str) -> None:
    try:
        call()
    except Fault as fault:
        assert fault_code(fault) == code, f"{what}: got {fault_code(fault)}: {fault.message}"
        assert fault.code.endswith("Client"), f"{what}: faultcode {fault.code}"
        print(f"ok: {what} -> fault {code}")
        return
    raise AssertionError(f"{what}: no fault")


def main() -> int:
    base, key, sku, demo_product = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    client = zeep.Client(f"{base}/soap?wsdl", wsse=UsernameToken("webshop", key))
    service = client.service

    customer = service.CreateCustomer(email="zoe@example.com", name="Zoe", customerNumber="Z-1")
    print("ok: CreateCustomer", customer.id)

    lines = [{"lineNumber": 1, "sku": sku, "quantity": 1}]
    first = service.CreateOrder(shop="zeep-shop", externalOrderNumber="Z-100", customerNumber="Z-1", line=lines)
    assert first.created is True
    ticket = first.order.ticketCode
    print("ok: CreateOrder", ticket)

    again = service.CreateOrder(shop="zeep-shop", externalOrderNumber="Z-100", customerNumber="Z-1", line=lines)
    assert again.created is False and again.order.ticketCode == ticket, "a retry gives the same ticket"
    assert not again.addedLine
    print("ok: CreateOrder again -> same ticket")

    more = lines + [{"lineNumber": 2, "sku": sku, "quantity": 2}]
    extended = service.CreateOrder(shop="zeep-shop", externalOrderNumber="Z-100", customerNumber="Z-1", line=more)
    assert extended.addedLine == [2] and extended.order.ticketCode == ticket
    print("ok: CreateOrder extended by line 2")

    got = service.GetTicket(ticketCode=ticket.lower().replace("-", " "))
    assert len(got.license) == 3, got
    license_id = got.license[0].id
    before = got.license[0].expiresAt
    print("ok: GetTicket with", len(got.license), "licenses")

    licenses = service.ListCustomerLicenses(customerId=customer.id, state="inactive")
    assert len(licenses) == 3
    print("ok: ListCustomerLicenses")

    offers = service.ListCustomerOffers(customerId=customer.id, limit=5)
    assert [(o.kind, o.title, o.couponCode, o.language) for o in offers] == [
        ("upgrade", "CAD Pro Ultimate", "ULT-25", "en")
    ], offers
    expect_fault(lambda: service.ListCustomerOffers(customerId=customer.id, limit=0), "invalid_input", "ListCustomerOffers limit 0")
    print("ok: ListCustomerOffers")
    for reaction in ("impression", "click", "click"):
        recorded = service.RecordOfferReaction(customerId=customer.id, offerId=offers[0].id, reaction=reaction)
        assert recorded == offers[0].id, recorded
    assert service.ListCustomerOffers(customerId=customer.id)[0].clicked is True
    service.RecordOfferReaction(customerId=customer.id, offerId=offers[0].id, reaction="dismissal")
    assert not service.ListCustomerOffers(customerId=customer.id), "dismissed: listed no more"
    expect_fault(lambda: service.RecordOfferReaction(customerId=customer.id, offerId=customer.id, reaction="click"),
                 "not_found", "RecordOfferReaction of an unknown offer")
    print("ok: RecordOfferReaction")

    renewed = service.RenewSubscription(licenseId=license_id)
    assert renewed.expiresAt > before, (renewed.expiresAt, before)
    print("ok: RenewSubscription until", renewed.expiresAt)

    cancelled = service.CancelOrder(shop="zeep-shop", externalOrderNumber="Z-100", reason="refund")
    assert all(l.state == "revoked" for l in cancelled.license)
    print("ok: CancelOrder -> every license revoked")

    demo = service.CreateDemoLicense(productCode=demo_product, customerEmail="zoe@example.com")
    assert demo.customerId == customer.id and len(demo.license) == 1 and demo.license[0].sku == "CAD-DEMO", demo
    assert demo.license[0].expiresAt is not None
    print("ok: CreateDemoLicense", demo.code)
    retry = service.CreateDemoLicense(productCode=demo_product, customerEmail="zoe@example.com")
    assert retry.code == demo.code, "a retry answers the same demo ticket"
    print("ok: CreateDemoLicense again -> the same ticket")
    expect_fault(
        lambda: service.CreateDemoLicense(productCode="no-such-product", customerEmail="zoe@example.com"),
        "demo_not_offered",
        "a product without a demo",
    )

    expect_fault(
        lambda: service.CreateOrder(shop="zeep-shop", externalOrderNumber="Z-101", line=[{"lineNumber": 1, "sku": "NO-SUCH-SKU", "quantity": 1}]),
        "not_found",
        "a bad item number",
    )
    wrong = zeep.Client(f"{base}/soap?wsdl", wsse=UsernameToken("webshop", "kp_not_a_key"))
    expect_fault(lambda: wrong.service.GetTicket(ticketCode=ticket), "unauthorized", "a wrong password")
    print("SOAP contract: zeep ran the shop scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
