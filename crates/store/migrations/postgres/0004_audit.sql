-- The audit trail (API.md section 7, docs/security.md "Audit log").
-- One row per authentication event; never a password, code, token or
-- secret. at_ms is unix milliseconds. The username is kept as text (not a
-- foreign key) so records outlive a deleted user and unknown names.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    event      TEXT   NOT NULL,
    username   TEXT   NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    dialect    TEXT   NOT NULL,
    app        TEXT
);
CREATE INDEX audit_log_at_ms ON audit_log (at_ms);
CREATE INDEX audit_log_username_at_ms ON audit_log (username, at_ms);
