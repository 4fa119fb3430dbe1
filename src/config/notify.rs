//! The notifier settings (`[notifier]`, `[notifier.smtp]`,
//! `[notifier.webhook]`) turned into each channel's [`Transport`]; the
//! rules between them (a host and a sender for SMTP, a URL for the
//! webhook, no password in clear) are in `rules`.
//!
//! Each channel has its own transport, because one deployment often needs
//! two: e-mail goes through `outbox` (the default), `smtp` or `webhook`;
//! SMS through `outbox` or `webhook` (SMTP cannot send SMS).

use std::time::Duration;

use otpgate_core::secret::SecretString;
use otpgate_notify::{SmtpSettings, SmtpTls, WebhookSettings};

use super::error::ConfigError;
use super::forms::non_empty;
use super::rules::transport;
use super::table::RawNotifier;
use crate::notifier_config::{NotifierConfig, Transport};
use crate::redact::redact_url;

/// Both channels' transports.
pub fn notifiers(n: &RawNotifier) -> Result<NotifierConfig, ConfigError> {
    let email = match transport(&n.email()?).as_str() {
        "smtp" => Transport::Smtp(smtp(n)?),
        "webhook" => Transport::Webhook(webhook(n)?),
        _ => Transport::Outbox,
    };
    let sms = match transport(&n.sms()?).as_str() {
        "webhook" => Transport::Webhook(webhook(n)?),
        _ => Transport::Outbox,
    };
    Ok(NotifierConfig { email, sms })
}

fn smtp(n: &RawNotifier) -> Result<SmtpSettings, ConfigError> {
    let s = &n.smtp;
    let tls = match transport(&s.tls()?).as_str() {
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        _ => SmtpTls::StartTls,
    };
    Ok(SmtpSettings {
        host: non_empty(s.host()?).unwrap_or_default(),
        port: s.port()?.unwrap_or_else(|| tls.default_port()),
        tls,
        username: non_empty(s.username()?),
        password: s
            .password()?
            .filter(|p| !p.is_empty())
            .map(SecretString::new),
        from: non_empty(s.from()?).unwrap_or_default(),
        timeout: Duration::from_secs(s.timeout_secs()?),
        ca_file: s.ca_file()?,
    })
}

fn webhook(n: &RawNotifier) -> Result<WebhookSettings, ConfigError> {
    let w = &n.webhook;
    let url = non_empty(w.url()?).unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::invalid(
            "notifier.webhook.url",
            format!(
                "notifier.webhook.url must start with http:// or https:// (got {})",
                redact_url(&url)
            ),
        ));
    }
    Ok(WebhookSettings {
        url,
        timeout: Duration::from_millis(w.timeout_ms()?),
        retries: w.retries()?,
        bearer_token: non_empty(w.bearer_token()?).map(SecretString::new),
    })
}
