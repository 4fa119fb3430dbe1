//! How out-of-band codes leave the gateway: one [`Notifier`] trait.
//!
//! The core decides when a code is sent and what it says; a notifier only
//! carries it. Notifiers that do network I/O (SMTP, an SMS webhook) live
//! outside the core (crate `otpgate-notify`); the default one, the
//! [`OutboxNotifier`], keeps the messages in the store, like a mail spool,
//! for development and tests (`otpgate outbox list`). A notifier that fails
//! returns an error: the use case then deletes the code and tells the
//! caller, so a code is never silently lost.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{Channel, NewOutboxMessage, UnixTime, UserId};
use crate::secret::SecretString;
use crate::store::Store;

/// One code on its way to a user.
#[derive(Debug, Clone)]
pub struct OobMessage {
    /// The recipient's id.
    pub user_id: UserId,
    /// The recipient's username.
    pub username: String,
    /// E-mail or SMS.
    pub channel: Channel,
    /// Address or phone number.
    pub to: String,
    /// The code (six digits).
    pub code: SecretString,
    /// Issuer name, for the text (`issuer` setting).
    pub issuer: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

impl OobMessage {
    /// The subject line of an e-mail.
    pub fn subject(&self) -> String {
        format!("Your {} verification code", self.issuer)
    }

    /// The text of the message (e-mail body or SMS).
    pub fn text(&self) -> String {
        let minutes = ((self.expires_at - self.created_at) / 60).max(1);
        format!(
            "Your {} verification code is {}. It expires in {} minutes and can be used once. \
             If you did not ask for it, ignore this message.",
            self.issuer,
            self.code.expose(),
            minutes
        )
    }
}

/// Why a message was not delivered (a one-line reason for the log; never
/// the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError(pub String);

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotifyError {}

/// Delivers out-of-band codes over one channel kind.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// A short name for logs and `config check` (`outbox`, `smtp`, ...).
    fn kind(&self) -> &'static str;
    /// Delivers `message`; returns only once the transport accepted it.
    async fn send(&self, message: &OobMessage) -> Result<(), NotifyError>;
}

/// The notifier of each channel.
#[derive(Clone)]
pub struct Notifiers {
    /// For e-mail.
    pub email: Arc<dyn Notifier>,
    /// For SMS.
    pub sms: Arc<dyn Notifier>,
}

impl fmt::Debug for Notifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifiers")
            .field("email", &self.email.kind())
            .field("sms", &self.sms.kind())
            .finish()
    }
}

impl Notifiers {
    /// The outbox for both channels (the default).
    pub fn outbox(store: Arc<dyn Store>) -> Self {
        let outbox: Arc<dyn Notifier> = Arc::new(OutboxNotifier { store });
        Self {
            email: outbox.clone(),
            sms: outbox,
        }
    }

    /// The notifier of `channel`.
    pub fn for_channel(&self, channel: Channel) -> &Arc<dyn Notifier> {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
        }
    }
}

/// Keeps messages in the store instead of sending them; they are deleted
/// when their code expires.
pub struct OutboxNotifier {
    store: Arc<dyn Store>,
}

impl OutboxNotifier {
    /// An outbox in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    fn kind(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, m: &OobMessage) -> Result<(), NotifyError> {
        self.store
            .put_outbox_message(&NewOutboxMessage {
                user_id: m.user_id,
                channel: m.channel,
                to: m.to.clone(),
                code: m.code.clone(),
                created_at: UnixTime::new(m.created_at),
                expires_at: UnixTime::new(m.expires_at),
            })
            .await
            .map_err(|e| NotifyError(format!("outbox: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_carries_the_code_and_the_lifetime() {
        let m = OobMessage {
            user_id: crate::model::UserId::new(1),
            username: "alice".into(),
            channel: Channel::Email,
            to: "alice@example.org".into(),
            code: SecretString::new("042917"),
            issuer: "otpgate".into(),
            created_at: 1000,
            expires_at: 1600,
        };
        assert!(m.text().contains("042917"));
        assert!(m.text().contains("10 minutes"));
        assert_eq!(m.subject(), "Your otpgate verification code");
        assert!(!format!("{m:?}").contains("042917"), "Debug hides the code");
    }
}
