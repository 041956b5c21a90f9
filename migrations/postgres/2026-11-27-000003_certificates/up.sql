-- Signing keys for license certificates, and the signed offline files already used.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    seed TEXT NOT NULL,
    public_key TEXT NOT NULL,
    is_current BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE used_files (
    nonce TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    activation_id TEXT NOT NULL,
    used_at TIMESTAMP NOT NULL
);
