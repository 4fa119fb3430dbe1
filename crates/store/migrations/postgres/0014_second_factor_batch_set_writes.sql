-- `otpgate_complete_second_factors` (0012) with fewer statements per
-- element: same parameters, same outcomes, same order of elements.
--
-- The first element of each user, when it is a TOTP step, is decided
-- with the others of its kind in one statement per step ("round one"
-- below). For the rest, only what decides an element's outcome is left
-- in the loop: the status lock (Single Connect), and the proof's
-- conditional write. What every element asked for apart from that is
-- done once for the group:
--
-- - the OTP counters of the attempts that did not reserve their place are
--   read in one statement before the loop (0012 read one per element,
--   right before its proof). A counter locked by another transaction
--   after that read is kept, as in 0012: the success is ordered before
--   the failure that locked;
-- - the winners' revocations are one INSERT, their used-up statuses one
--   DELETE, their counter resets one DELETE, all after the loop, in the
--   same transaction. A status a winner used up is remembered in the
--   loop, so a later element of the same user and application finds it
--   gone (-1), as when it was deleted at once.
--
-- Measured: docs/performance.md, session 26 (each statement run inside a
-- function costs an executor start and a plan check, which made the loop
-- most of PostgreSQL's CPU per verify-otp success).
CREATE OR REPLACE FUNCTION otpgate_complete_second_factors(
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
    -- The counters read before the loop: user, locked until.
    counter_user BIGINT[];
    counter_locked BIGINT[];
    -- What the winners asked for, done after the loop.
    used_status TEXT[] := '{}';
    status_user BIGINT[] := '{}';
    status_app BIGINT[] := '{}';
    revoke_jti TEXT[] := '{}';
    revoke_user BIGINT[] := '{}';
    revoke_expires BIGINT[] := '{}';
    clear_key TEXT[] := '{}';
    clear_now BIGINT[] := '{}';
    -- Round one (below): its elements, their users, the statuses held,
    -- the elements that won; the elements decided there.
    fast INT[];
    fast_user BIGINT[];
    status_held INT[] := '{}';
    fast_won INT[];
    won BOOLEAN[] := array_fill(false, ARRAY[n]);
    done BOOLEAN[] := array_fill(false, ARRAY[n]);
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
    SELECT coalesce(array_agg(t.key::BIGINT), '{}'), coalesce(array_agg(t.locked_until), '{}')
      INTO counter_user, counter_locked
      FROM throttles t
     WHERE t.kind = 'otp'
       AND t.key = ANY (ARRAY(SELECT p_user[k]::TEXT FROM generate_subscripts(p_user, 1) AS g(k)
                               WHERE p_unreserved_now[k] IS NOT NULL));
    -- Round one, decided together: the first element of each user, when
    -- it is a TOTP step (kind 0) that no locked counter stops. Its users
    -- are distinct, so one statement per step decides them all, in user
    -- order: the statuses are locked, then the proofs written (one
    -- conditional UPDATE of all their rows). What is left (an element
    -- after its user's first, another kind, a locked counter) goes through
    -- the loop below, one element at a time, as in 0012.
    SELECT coalesce(array_agg(f.k ORDER BY f.u), '{}'), coalesce(array_agg(f.u ORDER BY f.u), '{}')
      INTO fast, fast_user
      FROM (SELECT DISTINCT ON (p_user[k]) k, p_user[k] AS u
              FROM generate_subscripts(p_user, 1) AS g(k)
             ORDER BY p_user[k], k) AS f
     WHERE p_kind[f.k] = 0
       AND NOT (p_unreserved_now[f.k] IS NOT NULL AND f.u = ANY (counter_user)
                AND counter_locked[array_position(counter_user, f.u)] > p_unreserved_now[f.k]);
    IF cardinality(fast) > 0 THEN
        IF EXISTS (SELECT 1 FROM unnest(fast) AS g(k) WHERE p_status_app[g.k] IS NOT NULL) THEN
            SELECT coalesce(array_agg(x.k), '{}') INTO status_held
              FROM (SELECT g.k
                      FROM unnest(fast) AS g(k)
                      JOIN otp_status s ON s.user_id = p_user[g.k] AND s.app_id = p_status_app[g.k]
                     WHERE s.user_id = ANY (fast_user) AND s.expires_at > p_status_now[g.k]
                     ORDER BY s.user_id
                       FOR UPDATE OF s) AS x;
        END IF;
        WITH proved AS (
            UPDATE users AS w SET totp_last_step = p_step[g.k]
              FROM unnest(fast) AS g(k)
             WHERE w.id = ANY (fast_user) AND w.id = p_user[g.k]
               AND (p_status_app[g.k] IS NULL OR g.k = ANY (status_held))
               AND w.totp_state = 2
               AND (w.totp_last_step IS NULL OR w.totp_last_step < p_step[g.k])
            RETURNING g.k)
        SELECT coalesce(array_agg(k), '{}') INTO fast_won FROM proved;
        FOREACH i IN ARRAY fast_won LOOP
            won[i] := true;
        END LOOP;
        FOREACH i IN ARRAY fast LOOP
            done[i] := true;
            u := p_user[i];
            IF NOT won[i] THEN
                outcome[i] := CASE
                    WHEN p_status_app[i] IS NOT NULL AND NOT (i = ANY (status_held)) THEN -1
                    ELSE -2 END;
                CONTINUE;
            END IF;
            IF p_status_app[i] IS NOT NULL THEN
                used_status := used_status || (u::TEXT || ':' || p_status_app[i]::TEXT);
            END IF;
        END LOOP;
    END IF;
    FOR i IN SELECT k FROM generate_subscripts(p_user, 1) AS g(k) ORDER BY p_user[k], k LOOP
        IF done[i] THEN
            CONTINUE;
        END IF;
        u := p_user[i];
        -- The status: locked now, used up once the proof won.
        IF p_status_app[i] IS NOT NULL THEN
            IF (u::TEXT || ':' || p_status_app[i]::TEXT) = ANY (used_status) THEN
                outcome[i] := -1;
                CONTINUE;
            END IF;
            PERFORM 1 FROM otp_status
             WHERE user_id = u AND app_id = p_status_app[i] AND expires_at > p_status_now[i]
               FOR UPDATE;
            IF NOT FOUND THEN
                outcome[i] := -1;
                CONTINUE;
            END IF;
        END IF;
        -- The counter, for an attempt that did not reserve its place.
        IF p_unreserved_now[i] IS NOT NULL THEN
            locked := counter_locked[array_position(counter_user, u)];
            IF locked > p_unreserved_now[i] THEN
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
        won[i] := true;
        IF p_status_app[i] IS NOT NULL THEN
            used_status := used_status || (u::TEXT || ':' || p_status_app[i]::TEXT);
        END IF;
    END LOOP;
    -- What the winners asked for besides their proof, gathered for one
    -- statement each.
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN NOT won[i];
        u := p_user[i];
        IF p_status_app[i] IS NOT NULL THEN
            status_user := status_user || u;
            status_app := status_app || p_status_app[i];
        END IF;
        IF p_revoke_jti[i] IS NOT NULL THEN
            revoke_jti := revoke_jti || p_revoke_jti[i];
            revoke_user := revoke_user || u;
            revoke_expires := revoke_expires || p_revoke_expires[i];
        END IF;
        -- A reserved attempt always counted; an unreserved one counted
        -- when its counter was there when read.
        IF p_unreserved_now[i] IS NULL OR u = ANY (counter_user) THEN
            clear_key := clear_key || u::TEXT;
            clear_now := clear_now || p_unreserved_now[i];
        END IF;
    END LOOP;
    -- Won: everything else they asked for. Each statement finds its rows
    -- through the key's index (`= ANY` of the arrays), whatever the
    -- tables' sizes, and is skipped when no winner asked for it.
    IF cardinality(status_user) > 0 THEN
        DELETE FROM otp_status s
         USING unnest(status_user, status_app) AS w(u, a)
         WHERE s.user_id = ANY (status_user) AND s.user_id = w.u AND s.app_id = w.a;
    END IF;
    IF cardinality(revoke_jti) > 0 THEN
        INSERT INTO revoked_tokens (jti, user_id, expires_at)
        SELECT r.jti, r.u, r.expires
          FROM unnest(revoke_jti, revoke_user, revoke_expires) AS r(jti, u, expires)
         ORDER BY r.jti
        ON CONFLICT (jti) DO NOTHING;
    END IF;
    IF cardinality(clear_key) > 0 THEN
        DELETE FROM throttles t
         USING unnest(clear_key, clear_now) AS c(key, now_at)
         WHERE t.kind = 'otp' AND t.key = ANY (clear_key) AND t.key = c.key
           AND (c.now_at IS NULL OR t.locked_until <= c.now_at);
    END IF;
    IF NOT bumped AND noted IS DISTINCT FROM '1' THEN
        PERFORM set_config('otpgate.change_noted', coalesce(noted, ''), true);
    END IF;
    RETURN outcome;
END
$$;
