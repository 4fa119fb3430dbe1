-- Persistent tokens for integrations (API.md section 10): at most one per
-- user and audience, recorded by id (never the token) so a new one, or
-- DELETE, can revoke the old one.
CREATE TABLE persistent_tokens (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audience   TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, audience)
);
