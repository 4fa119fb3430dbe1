-- Mandatory 2FA (API.md section 11): the operator's per-user override of
-- the setting two_factor.required (`otpgate user require-2fa`).
-- NULL: follow the setting; 1: required; 0: not required.
ALTER TABLE users ADD COLUMN require_two_factor INTEGER
    CHECK (require_two_factor IN (0, 1));
