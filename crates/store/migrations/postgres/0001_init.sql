-- otpgate schema, PostgreSQL. Times are unix seconds (BIGINT), like the
-- SQLite schema it mirrors (migrations/sqlite/0001_init.sql).
CREATE TABLE users (
    id                 BIGSERIAL PRIMARY KEY,
    username           TEXT     NOT NULL UNIQUE,
    display_name       TEXT     NOT NULL,
    email              TEXT,
    phone              TEXT,
    external_id        TEXT,
    role               TEXT     NOT NULL DEFAULT 'user',
    password_hash      TEXT     NOT NULL,
    -- 0: no secret, 1: pending (handed out, not confirmed), 2: enabled
    totp_state         SMALLINT NOT NULL DEFAULT 0 CHECK (totp_state IN (0, 1, 2)),
    -- AES-256-GCM sealed secret, never plaintext
    totp_secret        BYTEA,
    totp_last_step     BIGINT,
    tokens_valid_after BIGINT   NOT NULL,
    created_at         BIGINT   NOT NULL
);

CREATE TABLE revoked_tokens (
    jti        TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE recovery_codes (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- argon2id PHC string
    code_hash TEXT      NOT NULL
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

CREATE TABLE throttles (
    kind         TEXT   NOT NULL,
    key          TEXT   NOT NULL,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
