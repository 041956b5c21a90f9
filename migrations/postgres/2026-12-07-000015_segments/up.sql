-- Newsletter segments: a name and a targeting rule (JSON, checked on save). Exports read
-- the customers the rule holds for who consented to marketing mail.
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
