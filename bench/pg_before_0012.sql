-- Undoes migration 0012 (second-factor batches, SKIP LOCKED counter slot)
-- on a freshly seeded database, so a binary with migrations up to 11 opens
-- it: BEFORE_SQL="$(cat bench/pg_before_0012.sql)" bench/pg_compare.sh OLD NEW
DROP FUNCTION otpgate_complete_second_factors;
CREATE OR REPLACE FUNCTION otpgate_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('otpgate.change_noted', true) IS DISTINCT FROM '1' THEN
        UPDATE change_feed SET changes = changes + 1 WHERE slot = pg_backend_pid() % 64;
        PERFORM set_config('otpgate.change_noted', '1', true);
    END IF;
    RETURN NULL;
END
$$;
DROP FUNCTION otpgate_bump_change;
DELETE FROM _sqlx_migrations WHERE version >= 12;
