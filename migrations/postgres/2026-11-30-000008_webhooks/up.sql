-- The event feed in commit order. Event numbers (seq) are handed out when an event is
-- written and transactions commit in any order, so a reader following seq could pass a
-- number that commits later. Each event therefore gets a feed position after it committed:
-- a sequencer (run by readers and the webhook sender, one at a time under the lock on
-- event_feed) numbers the committed events that have none, in seq order, after the last
-- position given. The events written before this change get theirs the same way, in
-- batches after the upgrade (no rewrite of the table here: adding a column without a
-- default changes no row).
ALTER TABLE events ADD COLUMN feed_pos BIGINT;
CREATE UNIQUE INDEX events_feed ON events(feed_pos);
CREATE INDEX events_unsequenced ON events(seq) WHERE feed_pos IS NULL;
CREATE TABLE event_feed (
    id INTEGER PRIMARY KEY,
    last BIGINT NOT NULL
);
INSERT INTO event_feed (id, last) VALUES (1, 0);

-- Names as Rust folds them to lower case, for search alike on both backends (filled by
-- Keyport at start for the accounts written before).
ALTER TABLE customers ADD COLUMN name_folded TEXT;
CREATE INDEX customers_unfolded ON customers(id) WHERE name_folded IS NULL;

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    event_kinds TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claim TEXT,
    locked_until TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    done_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint_id, state, next_attempt_at);
-- Few indexes: every event writes a row per endpoint. Retention goes by id (UUID v7: ids
-- grow with their creation time).
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    status INTEGER,
    error TEXT,
    latency_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, at)
);

-- How far the fan-out has read the event feed: one row, locked by the instance fanning out.
CREATE TABLE webhook_feed (
    name TEXT PRIMARY KEY,
    position TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Deliveries start with the events after this change (no endpoint existed before it).
INSERT INTO webhook_feed (name, position, updated_at)
    VALUES ('deliveries', 'end', CURRENT_TIMESTAMP);
