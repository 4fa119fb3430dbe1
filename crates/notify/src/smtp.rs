//! E-mail delivery of codes over SMTP, with lettre.
//!
//! One message per code, plain text. The transport is built once from the
//! settings (no connection is made until the first send); a send returns
//! only when the server accepted the message, and any refusal or network
//! error is the caller's error (the core then deletes the code).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use otpgate_core::notify::{Notifier, NotifyError, OobMessage};
use otpgate_core::secret::SecretString;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS, required (the default; port 587).
    StartTls,
    /// TLS from the first byte (SMTPS; port 465).
    Tls,
    /// Plain text: only for a relay on the same machine (port 25).
    None,
}

impl SmtpTls {
    /// The usual port of this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// Settings of the SMTP notifier.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host name (also the name its certificate must carry).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection protection.
    pub tls: SmtpTls,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password of that login.
    pub password: Option<SecretString>,
    /// Sender, e.g. `otpgate <no-reply@example.org>`.
    pub from: String,
    /// Timeout of each network step.
    pub timeout: Duration,
    /// An extra trusted CA certificate (PEM), e.g. of an internal CA.
    pub ca_file: Option<PathBuf>,
}

/// Sends codes by e-mail.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Builds the notifier; errors are one-line configuration messages.
    pub fn new(s: &SmtpSettings) -> Result<Self, String> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| format!("notifier.smtp.from {:?}: {e}", s.from))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
            .port(s.port)
            .timeout(Some(s.timeout));
        if s.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("notifier.smtp.ca_file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("notifier.smtp.ca_file {}: {e}", path.display()))?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| format!("notifier.smtp TLS settings: {e}"))?;
            builder = builder.tls(match s.tls {
                SmtpTls::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, m: &OobMessage) -> Result<(), NotifyError> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|_| NotifyError("the user's e-mail address is not valid".into()))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(m.text())
            .map_err(|e| NotifyError(format!("smtp: cannot build the message: {e}")))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError(format!("smtp: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(tls: SmtpTls) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 1,
            tls,
            username: None,
            password: None,
            from: "otpgate <no-reply@example.org>".into(),
            timeout: Duration::from_secs(2),
            ca_file: None,
        }
    }

    #[test]
    fn a_bad_sender_is_a_configuration_error() {
        let mut s = settings(SmtpTls::StartTls);
        s.from = "not an address".into();
        let err = SmtpNotifier::new(&s).expect_err("bad from");
        assert!(err.contains("notifier.smtp.from"), "{err}");
        assert!(SmtpNotifier::new(&settings(SmtpTls::Tls)).is_ok());
        assert!(SmtpNotifier::new(&settings(SmtpTls::None)).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_the_caller_sees() {
        let n = SmtpNotifier::new(&settings(SmtpTls::None)).expect("notifier");
        let m = OobMessage {
            user_id: otpgate_core::model::UserId::new(1),
            username: "alice".into(),
            channel: otpgate_core::model::Channel::Email,
            to: "alice@example.org".into(),
            code: SecretString::new("123456"),
            issuer: "otpgate".into(),
            created_at: 0,
            expires_at: 600,
        };
        let err = n.send(&m).await.expect_err("nothing listens on port 1");
        assert!(err.0.starts_with("smtp:"), "{err}");
        assert!(!err.0.contains("123456"));
    }
}
