//! The password backend seam: who says whether a password is right.
//!
//! Every password check of the gateway (login in every dialect, and the
//! password of `2fa/disable` and `2fa/recovery-codes`) goes through
//! [`crate::service::AuthService`]'s one check, which asks either the
//! built-in `local` backend (the argon2id hash in the store, checked on the
//! hashing pool) or a [`PasswordBackend`] outside the process: `nethcti`
//! (the CTI server, API.md §9) today, LDAP (§12) later. The throttles run
//! before the backend is asked; an [`BackendError::Unavailable`] backend is
//! never counted as a wrong password.
//!
//! No HTTP here: the implementations that talk to a server live outside
//! the core and are handed to the service as `Arc<dyn PasswordBackend>`.

use async_trait::async_trait;

use crate::secret::SecretString;

/// The name of the built-in backend (argon2id hashes in the store).
pub const LOCAL: &str = "local";

/// Why the password was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A login: the backend may open a session for the user.
    Login,
    /// A re-authentication (`2fa/disable`, `2fa/recovery-codes`): only
    /// the password is proven, no session is opened.
    Confirm,
}

/// What the backend knows of a user whose password it accepted (used to
/// fill in a user created at the first login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendProfile {
    /// Name for display, if the backend has one.
    pub display_name: Option<String>,
    /// E-mail address, if the backend has one.
    pub email: Option<String>,
    /// Phone number, if the backend has one.
    pub phone: Option<String>,
    /// Whether the backend is the authority on these fields: then they
    /// replace the stored ones at each login (a field the backend no
    /// longer has is cleared; the display name falls back to the
    /// username). LDAP is (API.md §12); the CTI server is not.
    pub authoritative: bool,
}

/// A password the backend accepted.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    /// What the backend knows of the user.
    pub profile: BackendProfile,
    /// The backend's own session for the user (the CTI server's token),
    /// on [`Purpose::Login`] where the backend has one; kept sealed.
    pub session: Option<SecretString>,
}

/// A password the backend did not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend answered: wrong username or password (counted by the
    /// throttles like a local failure).
    #[error("wrong username or password")]
    WrongPassword,
    /// The backend could not be asked or did not answer usefully
    /// (unreachable, timeout, 5xx, an answer of the wrong shape): the
    /// password was not evaluated, so it is never counted. The detail is
    /// for the log and holds no secret.
    #[error("password backend unavailable: {0}")]
    Unavailable(String),
}

/// A password authority outside the store (the CTI server; LDAP later).
#[async_trait]
pub trait PasswordBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's stable name (`nethcti`, ...), stored with the users
    /// it creates and shown by `user list` / `user show`.
    fn name(&self) -> &'static str;

    /// Checks `password` for the canonical `username`. Never cached: a
    /// password changed at the backend counts at once.
    async fn check(
        &self,
        username: &str,
        password: &SecretString,
        purpose: Purpose,
    ) -> Result<Accepted, BackendError>;

    /// Ends the user's backend session `session` (best effort: a failure
    /// is logged by the implementation, without secrets, and forgotten).
    async fn end_session(&self, username: &str, session: &SecretString);
}
