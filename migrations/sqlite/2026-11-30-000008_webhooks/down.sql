DROP INDEX customers_unfolded;
ALTER TABLE customers DROP COLUMN name_folded;
DROP TABLE webhook_feed;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE event_feed;
ALTER TABLE events DROP COLUMN feed_pos;
