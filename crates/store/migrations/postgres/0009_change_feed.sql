-- The change feed (docs/scaling.md): every commit that changes what a
-- token check reads (a user row, a revoked token id) bumps a counter in
-- the same transaction; instances read it every 250 ms and forget what
-- they remembered when it moved. The writing store also notifies the
-- channel `otpgate_changes` right after its commit, which every instance
-- hears at once (src/pg_feed.rs).
--
-- The NOTIFY is not sent here, inside the transaction: a transaction that
-- notifies holds one database-wide lock from its notification until its
-- commit is flushed, so notifying writes commit one fsync at a time
-- (verify-otp measured 367 ok/s against 1,051 without it, on one
-- instance). The counter costs one row update with no shared lock.
--
-- Triggers, not the application's statements: no write path (the CLI,
-- a future method, an operator's manual UPDATE) can forget the counter.
--
-- The counter is spread over 64 rows, picked by the writing backend, so
-- concurrent writers rarely wait on each other's row lock until commit;
-- instances read the sum, which grows with every such commit.
CREATE TABLE change_feed (
    slot    SMALLINT PRIMARY KEY,
    changes BIGINT   NOT NULL DEFAULT 0
);
INSERT INTO change_feed (slot) SELECT generate_series(0, 63);

-- Once per transaction (a transaction-local setting remembers it): one
-- counter bump, whatever number of rows changed.
CREATE FUNCTION otpgate_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('otpgate.change_noted', true) IS DISTINCT FROM '1' THEN
        UPDATE change_feed SET changes = changes + 1 WHERE slot = pg_backend_pid() % 64;
        PERFORM set_config('otpgate.change_noted', '1', true);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_change_feed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION otpgate_note_change();
CREATE TRIGGER users_truncate_feed AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION otpgate_note_change();
CREATE TRIGGER revoked_tokens_change_feed AFTER INSERT OR UPDATE OR DELETE ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION otpgate_note_change();
CREATE TRIGGER revoked_tokens_truncate_feed AFTER TRUNCATE ON revoked_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION otpgate_note_change();
