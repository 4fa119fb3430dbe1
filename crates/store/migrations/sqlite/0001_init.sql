-- otpgate schema, SQLite. Times are unix seconds.
CREATE TABLE users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    username           TEXT    NOT NULL UNIQUE,
    display_name       TEXT    NOT NULL,
    email              TEXT,
    phone              TEXT,
    external_id        TEXT,
    role               TEXT    NOT NULL DEFAULT 'user',
    password_hash      TEXT    NOT NULL,
    -- 0: no secret, 1: pending (handed out, not confirmed), 2: enabled
    totp_state         INTEGER NOT NULL DEFAULT 0 CHECK (totp_state IN (0, 1, 2)),
    -- AES-256-GCM sealed secret, never plaintext
    totp_secret        BLOB,
    totp_last_step     INTEGER,
    tokens_valid_after INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
);

CREATE TABLE revoked_tokens (
    jti        TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- argon2id PHC string
    code_hash TEXT    NOT NULL
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

CREATE TABLE throttles (
    kind         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
