//! The Socket.IO `login` event as one use case (API.md §3), so that the
//! transport only parses the payload and answers.
//!
//! A socket proves its session with the same checks as an HTTP request:
//! a JWT through [`AuthService::authenticate`] with the verified gate (the
//! native endpoint), or a legacy `user:token` credential through
//! [`AuthService::legacy_authenticate`] (the legacy endpoint); and
//! `accessKeyId` must name the credential's user, after the one username
//! normalisation. Every attempt is audited: `socket_login` when accepted,
//! `token_refused` otherwise (a payload that did not parse too, as `-`).

use crate::error::{AuthError, TokenProblem};
use crate::model::Principal;
use crate::service::audit::AuthEvent;
use crate::service::live_session::LiveSession;
use crate::service::{Access, AuthService, Caller};
use crate::username;

/// The endpoint a socket came through, which says what its `token` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketEndpoint {
    /// `<api_prefix>/ws/`: a JWT.
    Native,
    /// `/socket.io/`: a legacy token, checked as `accessKeyId:token`.
    Legacy,
}

/// A `login` event's claim, as the transport parsed it.
#[derive(Debug, Clone, Copy)]
pub struct SocketLogin<'a> {
    /// The endpoint it came through.
    pub endpoint: SocketEndpoint,
    /// `accessKeyId`: must name the credential's user.
    pub access_key_id: &'a str,
    /// `token`: the credential.
    pub token: &'a str,
}

/// An accepted socket login: the session the watcher keeps, and who it is.
#[derive(Debug, Clone)]
pub struct SocketSession {
    /// The live session to watch.
    pub session: LiveSession,
    /// The verified caller.
    pub principal: Principal,
}

impl AuthService {
    /// Checks a socket's `login` (`None`: a payload that did not parse)
    /// and audits the outcome. Any refusal is an error; the transport
    /// answers every one alike.
    pub async fn socket_login(
        &self,
        login: Option<SocketLogin<'_>>,
        caller: &Caller,
    ) -> Result<SocketSession, AuthError> {
        let user = login.map_or_else(|| "-".to_owned(), |l| username::normalize(l.access_key_id));
        let outcome = match login {
            Some(l) => self.check_socket_login(l).await,
            None => Err(AuthError::Token(TokenProblem::Missing)),
        };
        let event = if outcome.is_ok() {
            AuthEvent::SocketLogin
        } else {
            AuthEvent::TokenRefused
        };
        self.audit.record(event, &user, caller);
        outcome
    }

    async fn check_socket_login(&self, l: SocketLogin<'_>) -> Result<SocketSession, AuthError> {
        let (principal, session) = match l.endpoint {
            SocketEndpoint::Native => {
                let who = self.authenticate(l.token, Access::Verified).await?;
                let session = LiveSession::jwt(&who, who.two_factor);
                (who.principal().clone(), session)
            }
            SocketEndpoint::Legacy => {
                let credential = format!("{}:{}", l.access_key_id.trim(), l.token.trim());
                let who = self.legacy_authenticate(&credential).await?;
                let session = LiveSession::legacy(&who);
                (who, session)
            }
        };
        // `accessKeyId` names the token's user, after the one normalisation.
        if !username::names(l.access_key_id, &principal.username).unwrap_or(false) {
            return Err(AuthError::UsernameMismatch);
        }
        Ok(SocketSession { session, principal })
    }
}
