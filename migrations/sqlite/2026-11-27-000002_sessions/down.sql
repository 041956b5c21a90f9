DROP TABLE idempotency_keys;
DROP TABLE secrets;
DROP TABLE sessions;
ALTER TABLE customers DROP COLUMN password_hash;
