-- Second-factor successes in batches, and a change-feed counter slot that
-- concurrent writers do not share (docs/scaling.md).
--
-- 1. The counter slot. Migration 0009 bumped row `pg_backend_pid() % 64`:
--    two backends on the same row waited on each other's row lock until
--    the first one's commit was flushed. The bump now takes the first
--    unlocked row from that one on (`SKIP LOCKED`), so a writer waits only
--    when all 64 rows are taken by transactions in flight. The triggers of
--    0009 call `otpgate_note_change`, replaced here; they are unchanged.
CREATE FUNCTION otpgate_bump_change() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT;
BEGIN
    SELECT slot INTO s FROM change_feed WHERE slot >= pg_backend_pid() % 64
     ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT slot INTO s FROM change_feed ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
        s := pg_backend_pid() % 64;
    END IF;
    UPDATE change_feed SET changes = changes + 1 WHERE slot = s;
    PERFORM set_config('otpgate.change_noted', '1', true);
END
$$;

CREATE OR REPLACE FUNCTION otpgate_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('otpgate.change_noted', true) IS DISTINCT FROM '1' THEN
        PERFORM otpgate_bump_change();
    END IF;
    RETURN NULL;
END
$$;

-- 2. Many second-factor successes in one statement: element i of every
-- array is one call of `otpgate_complete_second_factor` (migration 0010,
-- same parameters, same meaning), and element i of the result is its
-- outcome: 0 recorded, -1 the status was gone, -2 the proof lost, and a
-- positive number: the counter is locked until that unix second. An
-- element that does not succeed writes nothing and leaves the others
-- alone: each one takes its locks and checks everything before it writes,
-- so nothing has to be undone and no exception is raised.
--
-- Elements are taken in the order of their user id (then their place in
-- the arrays), so two batches (two instances) lock users in the same
-- order and cannot deadlock on each other; within one user the order of
-- locks is that of 0010: the status row, the user row (or the recovery
-- code), the revocation, the counter row. Two elements of one user see
-- each other's writes (one transaction): of two uses of one step, the
-- first is recorded and the second loses.
--
-- The change feed: what a token check reads changes only through a
-- revocation or a secret enabled (the TOTP step last accepted is not
-- read by any token check), so the counter is bumped once, before any
-- row lock, when some element carries one of those, and the triggers are
-- told it is noted: an element that only moves `totp_last_step` (Single
-- Connect's `otpvalid`) bumps nothing. The setting is put back at the
-- end when nothing was bumped.
--
-- A counter that is locked: an attempt that did not reserve its place
-- (p_unreserved_now set) reads the counter before writing; when it is
-- locked the outcome is the lock (or -2 if the proof would have lost, as
-- in 0010, where the proof is decided first). A lock committed by another
-- transaction after that read is kept: the success is then ordered before
-- the failure that locked.
CREATE FUNCTION otpgate_complete_second_factors(
    p_user BIGINT[], p_kind SMALLINT[], p_step BIGINT[], p_cutoff BIGINT[], p_code BIGINT[],
    p_revoke_jti TEXT[], p_revoke_expires BIGINT[],
    p_status_app BIGINT[], p_status_now BIGINT[], p_unreserved_now BIGINT[]
) RETURNS BIGINT[] LANGUAGE plpgsql AS $$
DECLARE
    n INT := coalesce(array_length(p_user, 1), 0);
    outcome BIGINT[] := array_fill(0::BIGINT, ARRAY[n]);
    noted TEXT := current_setting('otpgate.change_noted', true);
    bumped BOOLEAN := false;
    i INT;
    u BIGINT;
    locked BIGINT;
    counted BOOLEAN;
BEGIN
    IF n = 0 THEN
        RETURN outcome;
    END IF;
    IF noted IS DISTINCT FROM '1' THEN
        IF EXISTS (SELECT 1 FROM generate_subscripts(p_user, 1) AS g(k)
                    WHERE p_revoke_jti[k] IS NOT NULL OR p_kind[k] = 1) THEN
            PERFORM otpgate_bump_change();
            bumped := true;
        ELSE
            PERFORM set_config('otpgate.change_noted', '1', true);
        END IF;
    END IF;
    FOR i IN SELECT k FROM generate_subscripts(p_user, 1) AS g(k) ORDER BY p_user[k], k LOOP
        u := p_user[i];
        -- The status: locked now, used up once the proof won.
        IF p_status_app[i] IS NOT NULL THEN
            PERFORM 1 FROM otp_status
             WHERE user_id = u AND app_id = p_status_app[i] AND expires_at > p_status_now[i]
               FOR UPDATE;
            IF NOT FOUND THEN
                outcome[i] := -1;
                CONTINUE;
            END IF;
        END IF;
        -- The counter, for an attempt that did not reserve its place.
        counted := p_unreserved_now[i] IS NULL;
        IF p_unreserved_now[i] IS NOT NULL THEN
            SELECT locked_until INTO locked FROM throttles WHERE kind = 'otp' AND key = u::TEXT;
            counted := FOUND;
            IF FOUND AND locked > p_unreserved_now[i] THEN
                IF p_kind[i] = 0 THEN
                    PERFORM 1 FROM users WHERE id = u AND totp_state = 2
                       AND (totp_last_step IS NULL OR totp_last_step < p_step[i]);
                ELSIF p_kind[i] = 1 THEN
                    PERFORM 1 FROM users WHERE id = u AND totp_state = 1;
                ELSE
                    PERFORM 1 FROM recovery_codes WHERE id = p_code[i] AND user_id = u;
                END IF;
                outcome[i] := CASE WHEN FOUND THEN locked ELSE -2 END;
                CONTINUE;
            END IF;
        END IF;
        -- The proof: the single use, decided by one conditional write.
        IF p_kind[i] = 0 THEN
            UPDATE users SET totp_last_step = p_step[i]
             WHERE id = u AND totp_state = 2
               AND (totp_last_step IS NULL OR totp_last_step < p_step[i]);
        ELSIF p_kind[i] = 1 THEN
            UPDATE users SET totp_state = 2, totp_last_step = p_step[i],
                   tokens_valid_after = GREATEST(tokens_valid_after + 1, p_cutoff[i])
             WHERE id = u AND totp_state = 1;
        ELSE
            DELETE FROM recovery_codes WHERE id = p_code[i] AND user_id = u;
        END IF;
        IF NOT FOUND THEN
            outcome[i] := -2;
            CONTINUE;
        END IF;
        -- Won: everything else it asked for.
        IF p_status_app[i] IS NOT NULL THEN
            DELETE FROM otp_status WHERE user_id = u AND app_id = p_status_app[i];
        END IF;
        IF p_revoke_jti[i] IS NOT NULL THEN
            INSERT INTO revoked_tokens (jti, user_id, expires_at)
            VALUES (p_revoke_jti[i], u, p_revoke_expires[i])
            ON CONFLICT (jti) DO NOTHING;
        END IF;
        IF counted THEN
            DELETE FROM throttles WHERE kind = 'otp' AND key = u::TEXT
               AND (p_unreserved_now[i] IS NULL OR locked_until <= p_unreserved_now[i]);
        END IF;
    END LOOP;
    IF NOT bumped AND noted IS DISTINCT FROM '1' THEN
        PERFORM set_config('otpgate.change_noted', coalesce(noted, ''), true);
    END IF;
    RETURN outcome;
END
$$;
