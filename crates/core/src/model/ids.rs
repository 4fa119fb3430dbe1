//! The ids and times of the `Store` signatures, each its own type.
//!
//! Forty-odd `Store` parameters used to be bare `i64`s: a user id, an
//! application id, "now", an expiry, a cut-off. Swapping two of them
//! compiled and ran. Each is now a one-field newtype, so passing a time
//! where a user id is expected (or an application id where a user id is)
//! is a type error. They are plain numbers underneath: `Copy`, ordered,
//! hashable, serialised exactly as the `i64` they wrap, and bound to SQL
//! as that `i64` (one conversion, in the store crate's `Value`).
//!
//! Arithmetic on times is spelled out (`plus_secs`, `minus_secs`) rather
//! than offered through operators, so a sum of a time and an id cannot
//! be written by accident.
//!
//! ```compile_fail
//! use otpgate_core::model::{UnixTime, UserId};
//! fn revoke(user: UserId) -> i64 { user.get() }
//! revoke(UnixTime::new(1_700_000_000)); // a time is not a user id
//! ```
//!
//! ```compile_fail
//! use otpgate_core::model::{AppId, UserId};
//! fn revoke(user: UserId) -> i64 { user.get() }
//! revoke(AppId::new(7)); // nor is an application id
//! ```
//!
//! ```compile_fail
//! use otpgate_core::model::UserId;
//! fn revoke(user: UserId) -> i64 { user.get() }
//! revoke(7); // nor a bare integer
//! ```
//!
//! ```
//! use otpgate_core::model::{UnixTime, UserId};
//! fn revoke(user: UserId) -> i64 { user.get() }
//! assert_eq!(revoke(UserId::new(7)), 7);
//! assert_eq!(UnixTime::new(100).plus_secs(20).get(), 120);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares one newtype over `i64`: `new`, `get`, `Display` as the number.
macro_rules! newtype {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(
                Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize,
                Deserialize,
            )]
            #[serde(transparent)]
            pub struct $name(i64);

            impl $name {
                /// Wraps the number.
                pub const fn new(value: i64) -> Self {
                    Self(value)
                }

                /// The number it wraps.
                pub const fn get(self) -> i64 {
                    self.0
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    fmt::Display::fmt(&self.0, f)
                }
            }
        )*
    };
}

newtype! {
    /// A user's store-assigned id.
    UserId;
    /// An application's store-assigned id.
    AppId;
    /// A recovery code's store-assigned id.
    RecoveryCodeId;
    /// An out-of-band code's store-assigned id.
    OobCodeId;
    /// A moment in whole seconds since the unix epoch ("now", an expiry,
    /// an issue time, a token cut-off).
    UnixTime;
    /// A moment in milliseconds since the unix epoch (the audit log's).
    UnixMillis;
}

impl UnixTime {
    /// `secs` seconds later (earlier if negative), saturating.
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `secs` seconds earlier, saturating.
    #[must_use]
    pub const fn minus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_sub(secs))
    }

    /// The seconds from `earlier` to this moment (negative if it is
    /// later), saturating.
    pub const fn secs_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn they_serialise_as_the_bare_number() {
        assert_eq!(
            serde_json::to_string(&UserId::new(42)).ok(),
            Some("42".into())
        );
        assert_eq!(
            serde_json::from_str::<UnixTime>("1700000000").ok(),
            Some(UnixTime::new(1_700_000_000))
        );
        assert_eq!(UserId::new(-3).to_string(), "-3");
    }

    #[test]
    fn time_arithmetic_saturates() {
        assert_eq!(
            UnixTime::new(i64::MAX).plus_secs(1),
            UnixTime::new(i64::MAX)
        );
        assert_eq!(UnixTime::new(10).minus_secs(4), UnixTime::new(6));
        assert!(UnixTime::new(1) < UnixTime::new(2));
    }
}
