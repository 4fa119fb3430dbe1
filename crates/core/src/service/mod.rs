//! The use cases of the gateway, on one [`AuthService`].
//!
//! Every dialect (native API, legacy, application dialects, Socket.IO) and
//! the CLI call these methods; none of them holds a rule of its own. The
//! rules are here, once: the token check and 2FA gate ([`session`]), TOTP
//! replay, lockout and recovery-code single use ([`two_factor`]), and
//! revocation cut-offs ([`admin`] and the above), the Socket.IO login
//! ([`socket_login`]).
//!
//! This file only declares the modules and re-exports the service's
//! names: the service itself (`auth_service`), the caller (`caller`), the
//! gate's access levels (`access`), so that no module here names its
//! parent and the use cases form no import cycle. A refused attempt is
//! recorded the one way `failures` writes down.

mod access;
pub mod admin;
pub mod app_otp;
pub mod applications;
pub mod audit;
mod auth_service;
mod caller;
pub mod enrol;
mod failures;
pub mod legacy;
pub mod live;
mod live_session;
pub mod mandatory;
pub mod mfa_session;
mod names;
pub mod oob;
mod passwords;
pub mod persistent;
pub mod session;
pub mod socket_login;
mod swaps;
mod token_checks;
pub mod two_factor;
mod upkeep;

pub use access::{Access, Stage};
pub use auth_service::AuthService;
pub use caller::{Caller, Dialect};
