-- Marketing consent, separate from the account: its state on the customer (for exports:
-- only `subscribed` customers), every change in a history (when, how, for which address,
-- from which network address), kept with the account as the proof of consent. Marketing
-- mails carry a one-click unsubscribe URL (RFC 8058) in the outbox.
ALTER TABLE customers ADD COLUMN marketing_consent TEXT NOT NULL DEFAULT 'none';
ALTER TABLE customers ADD COLUMN marketing_consent_at TIMESTAMP;
CREATE INDEX customers_marketing ON customers(marketing_consent, id);

CREATE TABLE consent_history (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    state TEXT NOT NULL,
    method TEXT NOT NULL,
    email TEXT NOT NULL,
    source_address TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX consent_history_customer ON consent_history(customer_id, id);

ALTER TABLE outbox ADD COLUMN list_unsubscribe TEXT;
