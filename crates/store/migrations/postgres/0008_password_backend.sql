-- The password backend (API.md section 9): which backend a user belongs to
-- ('local': argon2id hash in password_hash; 'nethcti': the CTI server
-- checks the password, password_hash is empty), and the CTI server's
-- session for the user, sealed with AES-256-GCM like the TOTP secret.
ALTER TABLE users ADD COLUMN backend TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN upstream_session BYTEA;
