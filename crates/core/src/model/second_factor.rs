//! What one second-factor success writes in a single store call: the
//! proof, the token to revoke, the OTP status to use up, and the outcome.

use super::ids::{AppId, RecoveryCodeId, UnixTime};

/// The proof of a second factor that a successful check records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorProof {
    /// A TOTP step of an enabled secret (accepted only if later than the
    /// last accepted step).
    TotpStep(i64),
    /// A TOTP step confirming the pending secret: 2FA is enabled, and the
    /// revocation cut-off moves to at least `cutoff`.
    Enable {
        /// The step that confirmed it.
        step: i64,
        /// The new cut-off (see `Store::revoke_all_tokens`).
        cutoff: UnixTime,
    },
    /// A recovery code (its store id), consumed.
    RecoveryCode(RecoveryCodeId),
}

/// A token to revoke in the same write as a second-factor success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeToken {
    /// The token's id.
    pub jti: String,
    /// Until when to remember it.
    pub expires_at: UnixTime,
}

/// An application's OTP status to use up in the same write as a
/// second-factor success (the Single Connect `otpvalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpStatusUse {
    /// The application that asked for the status.
    pub app_id: AppId,
    /// Now (unix seconds): the status must not have expired.
    pub now: UnixTime,
}

/// How a second-factor write ended ([`crate::store::SecondFactorStore::complete_second_factor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorWrite {
    /// The proof won; everything asked for was written.
    Recorded,
    /// The proof lost (a replayed step, an already enabled secret, a used
    /// code): nothing was written.
    ProofLost,
    /// The OTP status to use up was gone or expired: nothing was written.
    StatusGone,
    /// The attempt was not reserved ([`OtpCounter::Unreserved`]) and the
    /// user's OTP counter is locked until this unix second: nothing was
    /// written.
    Locked {
        /// The lock's end.
        until: UnixTime,
    },
}

impl SecondFactorWrite {
    /// Whether the success was recorded.
    pub fn recorded(self) -> bool {
        self == Self::Recorded
    }
}

/// How a second-factor success write treats the user's OTP failure
/// counter ([`crate::store::SecondFactorStore::complete_second_factor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpCounter {
    /// The attempt reserved its place on the counter beforehand: a success
    /// forgets the counter.
    Reserved,
    /// The attempt was not reserved (a code that matched the TOTP, checked
    /// without a store access): the write is refused with
    /// [`SecondFactorWrite::Locked`] while the counter is locked at `now`,
    /// so the outcome stays hidden from a locked caller; a success forgets
    /// the counter.
    Unreserved {
        /// The current unix second.
        now: UnixTime,
    },
}

/// A stored recovery code: its id and argon2id hash.
#[derive(Debug, Clone)]
pub struct RecoveryCodeRecord {
    /// Store id, used to consume it atomically.
    pub id: RecoveryCodeId,
    /// Argon2id PHC string of the code.
    pub hash: String,
}
