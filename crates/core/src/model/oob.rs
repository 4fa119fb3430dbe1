//! Out-of-band codes: the channel they travel by, the stored hash, the
//! claimed attempt and the outbox spool's messages.

use super::ids::{OobCodeId, UnixTime, UserId};

/// How an out-of-band code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// E-mail to the user's address.
    Email,
    /// SMS to the user's phone.
    Sms,
}

impl Channel {
    /// The stable name (`email`, `sms`), as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    /// The channel of a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// An out-of-band code to store: only its keyed hash.
#[derive(Debug, Clone)]
pub struct NewOobCode {
    /// Whose code.
    pub user_id: UserId,
    /// What it is for (an application's check, or one MFA session); a new
    /// code for the same user and binding replaces the old one.
    pub binding: String,
    /// Lower-case hex HMAC-SHA256 of the code (see `service::oob`).
    pub code_hash: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry (unix seconds).
    pub expires_at: UnixTime,
}

/// One attempt claimed on a live code: the code to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OobClaim {
    /// Store id of the code.
    pub id: OobCodeId,
    /// Its hash.
    pub code_hash: String,
    /// Attempts used, this one included.
    pub attempts: u32,
}

/// A message kept by the outbox notifier (a spool for development and
/// tests: it carries the code, as an e-mail would).
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    /// The recipient user.
    pub user_id: UserId,
    /// E-mail or SMS.
    pub channel: Channel,
    /// Address or phone number.
    pub to: String,
    /// The code, as the message carries it.
    pub code: crate::secret::SecretString,
    /// Creation time.
    pub created_at: UnixTime,
    /// When the code expires (the message is deleted then).
    pub expires_at: UnixTime,
}

/// A stored outbox message.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Store id (ordering).
    pub id: i64,
    /// Recipient's username.
    pub username: String,
    /// E-mail or SMS.
    pub channel: Channel,
    /// Address or phone number.
    pub to: String,
    /// The code.
    pub code: crate::secret::SecretString,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
}
