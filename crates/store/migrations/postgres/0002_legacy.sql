-- Legacy challenge login (API.md section 2), PostgreSQL; mirrors
-- migrations/sqlite/0002_legacy.sql. Times are unix seconds.
-- Only the SHA-256 of a legacy token is stored, never the token.
CREATE TABLE legacy_nonces (
    token_hash TEXT    PRIMARY KEY,
    nonce      TEXT    NOT NULL,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX legacy_nonces_expires_at ON legacy_nonces (expires_at);

CREATE TABLE legacy_grants (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX legacy_grants_expires_at ON legacy_grants (expires_at);
CREATE INDEX legacy_grants_user_id ON legacy_grants (user_id);
