ALTER TABLE outbox DROP COLUMN list_unsubscribe;
DROP TABLE consent_history;
DROP INDEX customers_marketing;
ALTER TABLE customers DROP COLUMN marketing_consent_at;
ALTER TABLE customers DROP COLUMN marketing_consent;
