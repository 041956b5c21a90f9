-- Keyport's first schema. Ids are UUID text; times are UTC, microsecond precision.
CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE rule_sets (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    seats INTEGER NOT NULL,
    deactivation_allowed BOOLEAN NOT NULL,
    offline_allowed BOOLEAN NOT NULL,
    initial_credits INTEGER NOT NULL,
    blocking_days INTEGER NOT NULL,
    replenish_credits INTEGER NOT NULL,
    replenish_every_days INTEGER NOT NULL,
    credit_cap INTEGER NOT NULL,
    emergency_days INTEGER NOT NULL,
    emergency_per_year INTEGER NOT NULL,
    checkin_interval_days INTEGER,
    checkin_grace_days INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE items (
    id TEXT PRIMARY KEY NOT NULL,
    sku TEXT NOT NULL UNIQUE,
    product_id TEXT NOT NULL REFERENCES products(id),
    rule_set_id TEXT NOT NULL REFERENCES rule_sets(id),
    name TEXT NOT NULL,
    license_model TEXT NOT NULL,
    duration_days INTEGER,
    features TEXT NOT NULL,
    version_min INTEGER NOT NULL,
    version_max INTEGER,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    customer_number TEXT UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    customer_id TEXT REFERENCES customers(id),
    registered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tickets_customer ON tickets(customer_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    shop TEXT NOT NULL,
    external_number TEXT NOT NULL,
    ticket_id TEXT NOT NULL UNIQUE REFERENCES tickets(id),
    customer_id TEXT REFERENCES customers(id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (shop, external_number)
);

CREATE TABLE order_lines (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_number INTEGER NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(id),
    quantity INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, line_number)
);

CREATE TABLE licenses (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    order_line_id TEXT NOT NULL REFERENCES order_lines(id),
    item_id TEXT NOT NULL REFERENCES items(id),
    starts_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoke_reason TEXT,
    lock_version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX licenses_ticket ON licenses(ticket_id);

CREATE TABLE machines (
    id TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE activations (
    id TEXT PRIMARY KEY NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses(id),
    machine_id TEXT NOT NULL REFERENCES machines(id),
    state TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX activations_license ON activations(license_id);
CREATE INDEX activations_machine ON activations(machine_id);

CREATE TABLE credit_grants (
    id TEXT PRIMARY KEY NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses(id),
    amount INTEGER NOT NULL,
    reason TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL
);
CREATE INDEX credit_grants_license ON credit_grants(license_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    license_id TEXT,
    customer_id TEXT,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    data TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX events_subject ON events(subject_type, subject_id);
CREATE INDEX events_license ON events(license_id);
CREATE INDEX events_customer ON events(customer_id);
CREATE INDEX events_kind ON events(kind);
