-- Releases of a product and their artifacts (the files, stored by SHA-256 outside the
-- database), and the downloads customers and machines completed (with the license that
-- entitled them: a yanked release kept downloadable stays so for that license).
CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products(id),
    version TEXT NOT NULL,
    major INTEGER NOT NULL,
    channel TEXT NOT NULL,
    notes_en TEXT NOT NULL,
    notes_de TEXT NOT NULL,
    state TEXT NOT NULL,
    rollout_percent INTEGER NOT NULL,
    keep_downloadable BOOLEAN NOT NULL,
    yank_reason TEXT,
    published_at TIMESTAMP,
    yanked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (product_id, version)
);

CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    release_id TEXT NOT NULL REFERENCES releases(id),
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    min_os_version TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (release_id, os, arch)
);
CREATE INDEX artifacts_sha256 ON artifacts(sha256);

CREATE TABLE downloads (
    id TEXT PRIMARY KEY,
    artifact_id TEXT NOT NULL REFERENCES artifacts(id),
    release_id TEXT NOT NULL REFERENCES releases(id),
    license_id TEXT NOT NULL,
    customer_id TEXT,
    ticket_id TEXT,
    activation_id TEXT,
    os TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX downloads_at ON downloads(at);
CREATE INDEX downloads_customer ON downloads(customer_id, release_id);
CREATE INDEX downloads_license ON downloads(license_id, release_id);
CREATE INDEX downloads_release ON downloads(release_id);
