-- Hardening: at most one current signing key, even when instances start at the same moment.
UPDATE signing_keys SET is_current = false
WHERE is_current AND kid <> (SELECT kid FROM signing_keys WHERE is_current ORDER BY created_at DESC, kid DESC LIMIT 1);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(is_current) WHERE is_current;

-- The fingerprint a machine had when an activation bound it, kept with the activation: the
-- machine row keeps the one it was first seen with, so no later activation rewrites what a
-- customer was shown.
ALTER TABLE activations ADD COLUMN fingerprint TEXT;
UPDATE activations SET fingerprint = (SELECT fingerprint FROM machines WHERE machines.id = activations.machine_id);

-- API keys may expire.
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMP;
