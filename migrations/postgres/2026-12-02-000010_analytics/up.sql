-- Session lengths per day (midnight UTC), item, version and OS, in the buckets of
-- keyport_core::analytics::session_bucket: what the median session length is read from once
-- a session has been folded into its day's usage row.
CREATE TABLE usage_session_lengths (
    day TIMESTAMP NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(id),
    version TEXT NOT NULL,
    os TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    sessions INTEGER NOT NULL,
    PRIMARY KEY (day, item_id, version, os, bucket)
);

-- The reports select by item (product) and by time.
CREATE INDEX licenses_item ON licenses(item_id);
CREATE INDEX items_product ON items(product_id);
CREATE INDEX activations_started ON activations(started_at);
