// An ERP connector's contract test: customers, orders, renewals and cancellations over
// SOAP, with a client the `soap` package builds from the served WSDL.
//
// The sandbox runs as a service beside the tests (see ../ci/github-actions.yml): its
// KEYPORT_SANDBOX_* lines are in the environment. Each test starts from the seeded state.

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import soap from "soap";

const url = process.env.KEYPORT_SANDBOX_URL;
const adminKey = process.env.KEYPORT_SANDBOX_ADMIN_KEY;
const shopKey = process.env.KEYPORT_SANDBOX_SHOP_KEY;
if (!url || !adminKey || !shopKey) {
  throw new Error("start `keyport sandbox` first and export its KEYPORT_SANDBOX_* lines");
}

async function sandbox(method, path, body) {
  const answer = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(answer.status, 200, `${method} ${path}: ${await answer.clone().text()}`);
  return answer.json();
}

async function erp() {
  const client = await soap.createClientAsync(`${url}/soap?wsdl`);
  client.setSecurity(new soap.WSSecurity("erp", shopKey, { passwordType: "PasswordText", hasTimeStamp: false }));
  return client;
}

/** A repeated element as a list: the `soap` package gives one occurrence as an object. */
const all = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** The licenses of an answer that holds a ticket (GetTicket, CancelOrder). */
const licensesOf = (answer) => all((answer.ticket ?? answer).license);

/** The stable code in a Keyport fault's detail. */
function faultCode(error) {
  const fault = error.root?.Envelope?.Body?.Fault;
  return fault?.detail?.KeyportFault?.code;
}

function order(client, number, sku, customerNumber) {
  return client.CreateOrderAsync({
    shop: "erp",
    externalOrderNumber: number,
    ...(customerNumber ? { customerNumber } : {}),
    line: [{ lineNumber: 1, sku, quantity: 1 }],
  });
}

beforeEach(async () => {
  await sandbox("POST", "/sandbox/reset");
});

test("a customer's order of a subscription is renewed by a year", async () => {
  const client = await erp();
  const [{ customer }] = await client.CreateCustomerAsync({ email: "it@customer.example", name: "Customer Ltd", customerNumber: "C-1" });
  const [placed] = await order(client, "SO-1", "CAD-PRO-SUB-1Y", "C-1");
  assert.equal(placed.created, true);
  const [ticket] = await client.GetTicketAsync({ ticketCode: placed.order.ticketCode });
  const [license] = licensesOf(ticket);
  const [renewed] = await client.RenewSubscriptionAsync({ licenseId: license.id });
  assert.equal(new Date(renewed.license.expiresAt) - new Date(license.expiresAt), 365 * 86400 * 1000);
  const [licenses] = await client.ListCustomerLicensesAsync({ customerId: customer.id });
  assert.equal(all(licenses.license).length, 1);
});

test("a subscription not renewed has expired a year and a day later", async () => {
  const client = await erp();
  const [placed] = await order(client, "SO-2", "CAD-PRO-SUB-1Y");
  await sandbox("POST", "/sandbox/clock", { days: 366 });
  const [ticket] = await client.GetTicketAsync({ ticketCode: placed.order.ticketCode });
  assert.equal(licensesOf(ticket)[0].state, "expired");
});

test("a cancelled order revokes its licenses, and cancelling twice is no error", async () => {
  const client = await erp();
  await order(client, "SO-3", "CAD-PRO-5");
  const [first] = await client.CancelOrderAsync({ shop: "erp", externalOrderNumber: "SO-3", reason: "returned" });
  const [second] = await client.CancelOrderAsync({ shop: "erp", externalOrderNumber: "SO-3", reason: "returned" });
  assert.deepEqual([...licensesOf(first), ...licensesOf(second)].map((l) => l.state), ["revoked", "revoked"]);
});

test("faults carry stable codes", async () => {
  const client = await erp();
  await assert.rejects(order(client, "SO-4", "NO-SUCH-SKU"), (e) => faultCode(e) === "not_found");
  const wrong = await soap.createClientAsync(`${url}/soap?wsdl`);
  wrong.setSecurity(new soap.WSSecurity("erp", "kp_wrong", { passwordType: "PasswordText", hasTimeStamp: false }));
  await assert.rejects(wrong.GetTicketAsync({ ticketCode: "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA" }), (e) => faultCode(e) === "unauthorized");
});
