//! The notifier settings (`[notifier]`, `[notifier.smtp]`,
//! `[notifier.webhook]`): validated here, turned into the core's
//! [`Notifiers`], and described (secrets redacted) by `config check`.
//!
//! Each channel has its own notifier, because one deployment often needs
//! two transports: e-mail goes through `outbox` (the default), `smtp` or
//! `webhook`; SMS through `outbox` or `webhook` (SMTP cannot send SMS).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use otpgate_core::Store;
use otpgate_core::notify::{Notifier, Notifiers, OutboxNotifier};
use otpgate_core::secret::SecretString;
use otpgate_notify::{SmtpNotifier, SmtpSettings, SmtpTls, WebhookNotifier, WebhookSettings};

/// The raw values, from the file and the environment.
#[derive(Debug, Default)]
pub struct RawSettings {
    pub email: Option<String>,
    pub sms: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_from: Option<String>,
    pub smtp_timeout_secs: Option<u64>,
    pub smtp_ca_file: Option<PathBuf>,
    pub webhook_url: Option<String>,
    pub webhook_timeout_ms: Option<u64>,
    pub webhook_retries: Option<u32>,
    pub webhook_bearer_token: Option<String>,
}

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

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn smtp(r: &RawSettings) -> Result<SmtpSettings, String> {
    let host = non_empty(r.smtp_host.clone())
        .ok_or("notifier.email = \"smtp\" needs notifier.smtp.host")?;
    let from = non_empty(r.smtp_from.clone())
        .ok_or("notifier.email = \"smtp\" needs notifier.smtp.from (the sender address)")?;
    let tls = match r
        .smtp_tls
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            return Err(format!(
                "notifier.smtp.tls {other:?} must be \"starttls\", \"tls\" or \"none\""
            ));
        }
    };
    let username = non_empty(r.smtp_username.clone());
    let password = r.smtp_password.clone().filter(|p| !p.is_empty());
    if username.is_some() != password.is_some() {
        return Err("notifier.smtp.username and notifier.smtp.password go together".into());
    }
    if tls == SmtpTls::None && username.is_some() && !is_loopback(&host) {
        return Err(
            "notifier.smtp.tls = \"none\" would send the SMTP password in clear text; \
             use \"starttls\" or \"tls\" (or a relay on localhost)"
                .into(),
        );
    }
    let timeout = r.smtp_timeout_secs.unwrap_or(10);
    if !(1..=300).contains(&timeout) {
        return Err("notifier.smtp.timeout_secs must be between 1 and 300".into());
    }
    let port = r.smtp_port.unwrap_or_else(|| tls.default_port());
    if port == 0 {
        return Err("notifier.smtp.port must not be 0".into());
    }
    Ok(SmtpSettings {
        host,
        port,
        tls,
        username,
        password: password.map(SecretString::new),
        from,
        timeout: Duration::from_secs(timeout),
        ca_file: r.smtp_ca_file.clone(),
    })
}

fn webhook(r: &RawSettings) -> Result<WebhookSettings, String> {
    let url = non_empty(r.webhook_url.clone())
        .ok_or("notifier \"webhook\" needs notifier.webhook.url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "notifier.webhook.url must start with http:// or https:// (got {})",
            crate::config::redact_url(&url)
        ));
    }
    let timeout = r.webhook_timeout_ms.unwrap_or(5000);
    if !(100..=60_000).contains(&timeout) {
        return Err("notifier.webhook.timeout_ms must be between 100 and 60000".into());
    }
    let retries = r.webhook_retries.unwrap_or(2);
    if retries > 10 {
        return Err("notifier.webhook.retries must be at most 10".into());
    }
    Ok(WebhookSettings {
        url,
        timeout: Duration::from_millis(timeout),
        retries,
        bearer_token: non_empty(r.webhook_bearer_token.clone()).map(SecretString::new),
    })
}

/// Validates the notifier settings.
pub fn validate(r: RawSettings) -> Result<NotifierConfig, String> {
    let kind = |v: &Option<String>| {
        v.as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "outbox".into())
    };
    let email = match kind(&r.email).as_str() {
        "outbox" => Transport::Outbox,
        "smtp" => Transport::Smtp(smtp(&r)?),
        "webhook" => Transport::Webhook(webhook(&r)?),
        other => {
            return Err(format!(
                "notifier.email {other:?} must be \"outbox\", \"smtp\" or \"webhook\""
            ));
        }
    };
    let sms = match kind(&r.sms).as_str() {
        "outbox" => Transport::Outbox,
        "webhook" => Transport::Webhook(webhook(&r)?),
        "smtp" => {
            return Err("notifier.sms cannot be \"smtp\": use \"webhook\" or \"outbox\"".into());
        }
        other => {
            return Err(format!(
                "notifier.sms {other:?} must be \"outbox\" or \"webhook\""
            ));
        }
    };
    Ok(NotifierConfig { email, sms })
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
            redact_query(&crate::config::redact_url(&w.url)),
            w.timeout.as_millis(),
            w.retries,
            if w.bearer_token.is_some() { "***" } else { "-" }
        ),
    }
}

/// A URL without its query (which may carry a token).
pub(crate) fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?***"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn the_default_is_the_outbox_for_both_channels() {
        let c = validate(raw()).expect("default");
        assert!(matches!(c.email, Transport::Outbox));
        assert!(matches!(c.sms, Transport::Outbox));
    }

    #[test]
    fn smtp_needs_host_and_sender_and_defaults_to_starttls_587() {
        let mut r = raw();
        r.email = Some("smtp".into());
        assert!(
            validate(r)
                .expect_err("host")
                .contains("notifier.smtp.host")
        );
        let mut r = raw();
        r.email = Some("smtp".into());
        r.smtp_host = Some("mail.example.org".into());
        assert!(
            validate(r)
                .expect_err("from")
                .contains("notifier.smtp.from")
        );
        let mut r = raw();
        r.email = Some("SMTP".into());
        r.smtp_host = Some("mail.example.org".into());
        r.smtp_from = Some("otpgate <no-reply@example.org>".into());
        let Transport::Smtp(s) = validate(r).expect("ok").email else {
            panic!("smtp expected");
        };
        assert_eq!((s.port, s.tls), (587, SmtpTls::StartTls));
    }

    #[test]
    fn a_password_is_never_sent_in_clear_text_off_the_machine() {
        let mut r = raw();
        r.email = Some("smtp".into());
        r.smtp_host = Some("mail.example.org".into());
        r.smtp_from = Some("a@example.org".into());
        r.smtp_tls = Some("none".into());
        r.smtp_username = Some("u".into());
        r.smtp_password = Some("p".into());
        assert!(validate(r).expect_err("clear").contains("clear text"));
        let mut r = raw();
        r.email = Some("smtp".into());
        r.smtp_host = Some("127.0.0.1".into());
        r.smtp_from = Some("a@example.org".into());
        r.smtp_tls = Some("none".into());
        r.smtp_username = Some("u".into());
        r.smtp_password = Some("p".into());
        let c = validate(r).expect("loopback relay");
        let text = [&c.email, &c.sms].map(describe_transport).join("\n");
        assert!(text.contains("password=***"), "{text}");
        assert!(!text.contains("=p "), "{text}");
    }

    #[test]
    fn webhook_needs_an_http_url_and_sms_cannot_be_smtp() {
        let mut r = raw();
        r.sms = Some("webhook".into());
        assert!(
            validate(r)
                .expect_err("url")
                .contains("notifier.webhook.url")
        );
        let mut r = raw();
        r.sms = Some("webhook".into());
        r.webhook_url = Some("ftp://x".into());
        assert!(validate(r).expect_err("scheme").contains("http://"));
        let mut r = raw();
        r.sms = Some("smtp".into());
        assert!(validate(r).expect_err("sms smtp").contains("cannot"));
        let mut r = raw();
        r.sms = Some("webhook".into());
        r.webhook_url = Some("https://gw.example.org/send?token=s3cret".into());
        r.webhook_bearer_token = Some("t0ken".into());
        let c = validate(r).expect("ok");
        let text = [&c.email, &c.sms].map(describe_transport).join("\n");
        assert!(
            !text.contains("s3cret") && !text.contains("t0ken"),
            "{text}"
        );
        assert!(
            text.contains("retries=2") && text.contains("timeout=5000ms"),
            "{text}"
        );
    }
}
