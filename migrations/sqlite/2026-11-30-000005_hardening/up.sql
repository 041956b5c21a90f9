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
-- A reinstalled client's activation moves to its new key at most once a period, never back.
ALTER TABLE activations ADD COLUMN rebound_at TIMESTAMP;
ALTER TABLE activations ADD COLUMN previous_machine_id TEXT;
-- What the pruning job looks for, found by index rather than a full scan.
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX sessions_revoked ON sessions(revoked_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
CREATE INDEX one_time_tokens_expires ON one_time_tokens(expires_at);
CREATE INDEX rate_counters_window ON rate_counters(window_start);
