DROP TABLE rate_counters;
DROP TABLE outbox;
DROP TABLE one_time_tokens;
DROP INDEX customers_sso;
ALTER TABLE customers DROP COLUMN sso_subject;
ALTER TABLE customers DROP COLUMN sso_issuer;
ALTER TABLE customers DROP COLUMN language;
ALTER TABLE customers DROP COLUMN email_verified_at;
