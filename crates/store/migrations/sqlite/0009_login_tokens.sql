-- Login tokens of users whose password backend keeps a session for them
-- (the CTI server's, API.md section 9), recorded by id (never the token),
-- so that the user's last token going (logout) can end that session.
CREATE TABLE login_tokens (
    jti        TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX login_tokens_user_id ON login_tokens (user_id);
CREATE INDEX login_tokens_expires_at ON login_tokens (expires_at);
