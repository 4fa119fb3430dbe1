//! The domain records the use cases and the stores exchange, one small
//! module per subject; every type is re-exported here, so
//! `otpgate_core::model::X` names it whatever module holds it.

mod application;
mod audit;
mod ids;
mod legacy;
mod live;
mod oob;
mod second_factor;
mod throttle;
mod token;
mod user;

pub use application::{Application, ContactField, MfaSession, NewApplication, OtpStatusRecord};
pub use audit::{AuditQuery, AuditRecord};
pub use ids::{AppId, OobCodeId, RecoveryCodeId, UnixMillis, UnixTime, UserId};
pub use legacy::{LegacyGrant, LegacyNonce};
pub use live::{LiveState, TwoFactorGroup, UserLiveState};
pub use oob::{Channel, NewOobCode, NewOutboxMessage, OobClaim, OutboxMessage};
pub use second_factor::{
    OtpCounter, OtpStatusUse, RecoveryCodeRecord, RevokeToken, SecondFactorProof, SecondFactorWrite,
};
pub use throttle::{Reservation, ThrottleKind, ThrottleState};
pub use token::{Authenticated, IssuedToken, PersistentToken, Principal, TokenState};
pub use user::{NewUser, Profile, ProfileChange, TotpState, User};
