-- Loses the upgrade history: upgrade lines stay as lines without licenses, and upgraded
-- licenses can no longer be taken back by a cancellation.
DROP INDEX order_lines_upgraded;
ALTER TABLE order_lines DROP COLUMN upgraded_from_expires_at;
ALTER TABLE order_lines DROP COLUMN upgraded_from_item_id;
ALTER TABLE order_lines DROP COLUMN upgraded_license_id;
ALTER TABLE items DROP COLUMN upgrade_from;
