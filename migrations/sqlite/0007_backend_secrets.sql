-- Secrets a backend makes for itself and must find again (a cloud server's admin password),
-- sealed with the configured vault key (ChaCha20-Poly1305; the row's backend, instance and
-- name are its associated data, so a sealed value cannot be moved to another row). `key_id`
-- names the key (a digest prefix, not the key) so a wrong key is told apart from a damaged row.
CREATE TABLE backend_secrets (
    backend TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    PRIMARY KEY (backend, instance_id, name)
);
