-- Applications (API keys), out-of-band codes, the application dialects'
-- state and the outbox. SQLite. Times are unix seconds. Version 3 (version
-- 2 belongs to another change).

-- Registered applications; the key's secret only as SHA-256 (hex).
CREATE TABLE applications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    key_id      TEXT    NOT NULL UNIQUE,
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Out-of-band codes: only an HMAC-SHA256 (hex) of the code; one live code
-- per user and binding; attempts counted by one conditional UPDATE.
CREATE TABLE oob_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    binding    TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (user_id, binding)
);
CREATE INDEX oob_codes_expires_at ON oob_codes (expires_at);

-- Capillary-style MFA sessions, by the SHA-256 (hex) of the session id.
CREATE TABLE mfa_sessions (
    id_hash    TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    device_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX mfa_sessions_expires_at ON mfa_sessions (expires_at);

-- Single Connect-style "otpstatus was asked" records.
CREATE TABLE otp_status (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id      INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    end_user_ip TEXT,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, app_id)
);

-- The outbox notifier's spool (development and tests): deleted when the
-- code expires.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel    TEXT    NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient  TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX outbox_expires_at ON outbox (expires_at);

-- Finding users by e-mail or external id.
CREATE INDEX users_email_lower ON users (lower(email));
CREATE INDEX users_external_id ON users (external_id);
