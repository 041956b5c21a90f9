-- Customer identity: e-mail verification, language, single sign-on links, one-time tokens,
-- the mail outbox, and shared rate-limit counters.
ALTER TABLE customers ADD COLUMN email_verified_at TIMESTAMP;
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE customers ADD COLUMN sso_issuer TEXT;
ALTER TABLE customers ADD COLUMN sso_subject TEXT;
-- Accounts made before verification existed were made by staff or shops: they count as verified.
UPDATE customers SET email_verified_at = created_at;
CREATE UNIQUE INDEX customers_sso ON customers(sso_issuer, sso_subject);

CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    sent_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox(sent_at, next_attempt_at);

CREATE TABLE rate_counters (
    key TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL
);
