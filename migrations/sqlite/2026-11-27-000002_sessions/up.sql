-- Customer passwords, refresh-token sessions, server secrets and idempotency keys.
ALTER TABLE customers ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    customer_id TEXT REFERENCES customers(id),
    ticket_id TEXT REFERENCES tickets(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_family ON sessions(family_id);

CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE idempotency_keys (
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, key)
);
