-- Licenses in the field: emergency licenses, check-ins, usage sessions and demos.

-- An emergency license is an activation that ends by itself at `emergency_until` and holds
-- no seat of its own; `converted_at` is set when a recovery made it a normal activation (it
-- still counts against the yearly allowance).
ALTER TABLE activations ADD COLUMN emergency_until TIMESTAMP;
ALTER TABLE activations ADD COLUMN converted_at TIMESTAMP;
-- The activation of the lost machine an emergency license stands in for.
ALTER TABLE activations ADD COLUMN stands_for TEXT;
-- The last check-in of the software on the activation's machine, what it reported, and the
-- time of the newest signed check-in taken (milliseconds since 1970): an older or equal one
-- is a replay.
ALTER TABLE activations ADD COLUMN last_checkin_at TIMESTAMP;
ALTER TABLE activations ADD COLUMN last_proof_ms BIGINT;
ALTER TABLE activations ADD COLUMN client_version TEXT;
ALTER TABLE activations ADD COLUMN client_os TEXT;
ALTER TABLE activations ADD COLUMN client_os_version TEXT;
ALTER TABLE activations ADD COLUMN client_arch TEXT;
ALTER TABLE activations ADD COLUMN client_locale TEXT;

-- A demo item that customers and the ISV's software may request themselves.
ALTER TABLE items ADD COLUMN self_service BOOLEAN NOT NULL DEFAULT FALSE;

-- Who had a demo of which product: a customer ('customer:<id>') or a machine
-- ('machine:<fingerprint>'). The key makes a second demo impossible, even for racing requests.
CREATE TABLE demo_claims (
    product_id TEXT NOT NULL REFERENCES products(id),
    claimant TEXT NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses(id),
    customer_id TEXT REFERENCES customers(id),
    claimed_at TIMESTAMP NOT NULL,
    converted_order_id TEXT,
    PRIMARY KEY (product_id, claimant)
);
CREATE INDEX demo_claims_customer ON demo_claims(customer_id);
CREATE INDEX demo_claims_license ON demo_claims(license_id);

-- Sessions of use: open ones, and ones closed in the last minutes (so a replayed start
-- cannot open them again); a closed one is part of its day's row.
CREATE TABLE usage_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    activation_id TEXT NOT NULL REFERENCES activations(id),
    version TEXT NOT NULL,
    os TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX usage_sessions_activation ON usage_sessions(activation_id);
CREATE INDEX usage_sessions_last_seen ON usage_sessions(last_seen_at);

-- Usage per activation, day (midnight UTC) and version: check-ins, closed sessions and
-- their seconds of use.
CREATE TABLE usage_days (
    activation_id TEXT NOT NULL REFERENCES activations(id),
    day TIMESTAMP NOT NULL,
    version TEXT NOT NULL,
    os TEXT NOT NULL,
    checkins INTEGER NOT NULL,
    sessions INTEGER NOT NULL,
    seconds BIGINT NOT NULL,
    PRIMARY KEY (activation_id, day, version)
);
CREATE INDEX usage_days_day ON usage_days(day);
