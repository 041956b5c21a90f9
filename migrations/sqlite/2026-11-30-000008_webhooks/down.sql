DROP TABLE webhook_feed;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP INDEX events_feed;
ALTER TABLE events DROP COLUMN txid;
