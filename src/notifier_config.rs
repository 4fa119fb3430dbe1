//! How out-of-band codes travel, per channel, once the configuration is
//! validated (`config::notify` builds it): each channel's [`Transport`],
//! turned into the core's [`Notifiers`] at start, and described (secrets
//! redacted) by `config check`. Names no configuration module, so the
//! settings table can print it.

use std::sync::Arc;

use otpgate_core::Store;
use otpgate_core::notify::{Notifier, Notifiers, OutboxNotifier};
use otpgate_notify::{SmtpNotifier, SmtpSettings, SmtpTls, WebhookNotifier, WebhookSettings};

use crate::redact::{redact_query, redact_url};

/// The transport of one channel.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Kept in the store (`otpgate outbox list`).
    Outbox,
    /// Sent by e-mail.
    Smtp(SmtpSettings),
    /// Posted to a webhook.
    Webhook(WebhookSettings),
}

/// The validated notifier settings.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// How e-mail codes travel.
    pub email: Transport,
    /// How SMS codes travel.
    pub sms: Transport,
}

fn build(t: &Transport, store: &Arc<dyn Store>) -> Result<Arc<dyn Notifier>, String> {
    Ok(match t {
        Transport::Outbox => Arc::new(OutboxNotifier::new(store.clone())),
        Transport::Smtp(s) => Arc::new(SmtpNotifier::new(s)?),
        Transport::Webhook(w) => Arc::new(WebhookNotifier::new(w.clone())?),
    })
}

impl NotifierConfig {
    /// The notifiers for the core (the outbox writes to `store`).
    pub fn build(&self, store: &Arc<dyn Store>) -> Result<Notifiers, String> {
        Ok(Notifiers {
            email: build(&self.email, store)?,
            sms: build(&self.sms, store)?,
        })
    }
}

/// A channel's transport in one line, passwords and tokens as `***`.
pub fn describe_transport(t: &Transport) -> String {
    match t {
        Transport::Outbox => "outbox (kept in the store; otpgate outbox list)".into(),
        Transport::Smtp(s) => format!(
            "smtp {}:{} tls={} from={:?} user={} password={}{}",
            s.host,
            s.port,
            match s.tls {
                SmtpTls::StartTls => "starttls",
                SmtpTls::Tls => "tls",
                SmtpTls::None => "none",
            },
            s.from,
            s.username.as_deref().unwrap_or("-"),
            if s.password.is_some() { "***" } else { "-" },
            s.ca_file
                .as_ref()
                .map_or(String::new(), |p| format!(" ca_file={}", p.display()))
        ),
        Transport::Webhook(w) => format!(
            "webhook {} timeout={}ms retries={} bearer_token={}",
            redact_query(&redact_url(&w.url)),
            w.timeout.as_millis(),
            w.retries,
            if w.bearer_token.is_some() { "***" } else { "-" }
        ),
    }
}
