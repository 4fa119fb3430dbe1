-- The change-feed row triggers of 0009 fire only when the transaction has
-- not noted its change yet. The test is the trigger's WHEN clause, read
-- when the row is written, so a row written after the note (every row of
-- a second-factor group, which notes once for all: 0012) queues no
-- trigger call at all; before, each such row still called
-- `otpgate_note_change` at the end of its statement only for it to see
-- the note and return (a plpgsql call per row: docs/performance.md,
-- session 26). What is noted, and when the counter moves, is unchanged.
DROP TRIGGER users_change_feed ON users;
CREATE TRIGGER users_change_feed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW
    WHEN (current_setting('otpgate.change_noted', true) IS DISTINCT FROM '1')
    EXECUTE FUNCTION otpgate_note_change();
DROP TRIGGER revoked_tokens_change_feed ON revoked_tokens;
CREATE TRIGGER revoked_tokens_change_feed AFTER INSERT OR UPDATE OR DELETE ON revoked_tokens
    FOR EACH ROW
    WHEN (current_setting('otpgate.change_noted', true) IS DISTINCT FROM '1')
    EXECUTE FUNCTION otpgate_note_change();
