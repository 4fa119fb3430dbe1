-- A second-factor success in one round trip (docs/scaling.md): use up the
-- application's OTP status (Single Connect), prove the step or use up the
-- recovery code, revoke the pre-OTP token and forget the OTP counter, all
-- in the caller's one statement, with the same order of row locks as the
-- transaction it replaces (status, user row, counter).
--
-- p_kind: 0 a TOTP step of the enabled secret, 1 the step confirming the
-- pending secret (moving the cut-off to at least p_cutoff), 2 the
-- recovery code p_code. p_status_app NULL: no status to use up.
-- p_unreserved_now NULL: the attempt reserved its place on the counter.
--
-- Returns 0 when everything was written, -1 when the status was gone,
-- -2 when the proof lost, with nothing written. When something was
-- written already and must be undone, it raises instead, which rolls the
-- whole statement back: SQLSTATE OG001 (the proof lost) or OG002 (the
-- counter is locked; the message is the unix second it is locked until).
CREATE FUNCTION otpgate_complete_second_factor(
    p_user BIGINT, p_kind SMALLINT, p_step BIGINT, p_cutoff BIGINT, p_code BIGINT,
    p_revoke_jti TEXT, p_revoke_expires BIGINT,
    p_status_app BIGINT, p_status_now BIGINT, p_unreserved_now BIGINT
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    changed INT;
    locked BIGINT;
BEGIN
    IF p_status_app IS NOT NULL THEN
        DELETE FROM otp_status
         WHERE user_id = p_user AND app_id = p_status_app AND expires_at > p_status_now;
        GET DIAGNOSTICS changed = ROW_COUNT;
        IF changed = 0 THEN
            RETURN -1;
        END IF;
    END IF;
    IF p_kind = 0 THEN
        UPDATE users SET totp_last_step = p_step
         WHERE id = p_user AND totp_state = 2
           AND (totp_last_step IS NULL OR totp_last_step < p_step);
    ELSIF p_kind = 1 THEN
        UPDATE users SET totp_state = 2, totp_last_step = p_step,
               tokens_valid_after = GREATEST(tokens_valid_after + 1, p_cutoff)
         WHERE id = p_user AND totp_state = 1;
    ELSE
        DELETE FROM recovery_codes WHERE id = p_code AND user_id = p_user;
    END IF;
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed <> 1 THEN
        IF p_status_app IS NOT NULL THEN
            RAISE EXCEPTION 'proof lost' USING ERRCODE = 'OG001';
        END IF;
        RETURN -2;
    END IF;
    IF p_revoke_jti IS NOT NULL THEN
        INSERT INTO revoked_tokens (jti, user_id, expires_at)
        VALUES (p_revoke_jti, p_user, p_revoke_expires)
        ON CONFLICT (jti) DO NOTHING;
    END IF;
    DELETE FROM throttles WHERE kind = 'otp' AND key = p_user::TEXT
        RETURNING locked_until INTO locked;
    IF p_unreserved_now IS NOT NULL AND locked IS NOT NULL AND locked > p_unreserved_now THEN
        RAISE EXCEPTION '%', locked USING ERRCODE = 'OG002';
    END IF;
    RETURN 0;
END
$$;
