-- Upgrades: an item names the items whose licenses an order line of it upgrades (a JSON
-- list of SKUs); an upgrade line keeps the license it upgraded and what the license was
-- before (its item and end), so that a cancellation can take the upgrade back.
ALTER TABLE items ADD COLUMN upgrade_from TEXT NOT NULL DEFAULT '[]';
ALTER TABLE order_lines ADD COLUMN upgraded_license_id TEXT REFERENCES licenses(id);
ALTER TABLE order_lines ADD COLUMN upgraded_from_item_id TEXT REFERENCES items(id);
ALTER TABLE order_lines ADD COLUMN upgraded_from_expires_at TIMESTAMP;
CREATE INDEX order_lines_upgraded ON order_lines(upgraded_license_id);
