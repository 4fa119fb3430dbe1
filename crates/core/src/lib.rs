//! otpgate-core: the rules of the gateway, with no HTTP and no SQL.
//!
//! Every security rule (the 2FA gate, TOTP replay, lockout and back-off,
//! revocation, single use of recovery codes) is enforced here, once, by
//! [`service::AuthService`]. The HTTP dialects and the CLI only translate
//! requests into calls on it. State lives behind the [`store::Store`] trait;
//! time comes from a [`clock::Clock`] so tests never sleep.

pub mod address;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod keys;
pub mod model;
pub mod notify;
pub mod password_backend;
pub mod password_policy;
pub mod secret;
pub mod service;
pub mod store;
pub mod throttle;
pub mod username;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Policy;
pub use error::{AuthError, StoreError};
pub use service::AuthService;
pub use store::Store;
