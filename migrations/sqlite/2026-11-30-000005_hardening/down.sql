ALTER TABLE api_keys DROP COLUMN expires_at;
DROP INDEX signing_keys_one_current;
ALTER TABLE activations DROP COLUMN fingerprint;
