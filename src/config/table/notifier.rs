//! Rows of the settings table: how out-of-band codes travel (e-mail, SMS).

use std::path::PathBuf;

use crate::config::forms;
use crate::config::section::section;
use crate::config::show;
use crate::config::value::{Bounds, Form, OneOf};
use crate::notifier_config::describe_transport;
use crate::redact::{redact_query, redact_url};

section! {
    /// The settings of `[notifier]`.
    pub struct RawNotifier = "notifier." {
        email: String = ["outbox".into()] {
            env: "OTPGATE_NOTIFIER_EMAIL",
            check: OneOf(&["outbox", "smtp", "webhook"]),
            default_doc: "`outbox`",
            doc: "how e-mail codes travel: `outbox`, `smtp` or `webhook`",
            show: |c| describe_transport(&c.notifier.email),
        }
        sms: String = ["outbox".into()] {
            env: "OTPGATE_NOTIFIER_SMS",
            check: Form(forms::sms_transport),
            default_doc: "`outbox`",
            doc: "how SMS codes travel: `outbox` or `webhook`",
            show: |c| describe_transport(&c.notifier.sms),
        }
    }
    children { smtp: RawSmtp, webhook: RawWebhook }
}

section! {
    /// The settings of `[notifier.smtp]`.
    pub struct RawSmtp = "notifier.smtp." {
        host: String = [] {
            env: "OTPGATE_SMTP_HOST",
            default_doc: "none",
            doc: "SMTP server (required for `smtp`)",
            show: |c| show::smtp(c, |s| s.host.clone()),
        }
        port: u16 = [] {
            env: "OTPGATE_SMTP_PORT",
            check: Form(forms::not_zero),
            default_doc: "by `tls`: 587, 465, 25",
            doc: "SMTP port",
            show: |c| show::smtp(c, |s| s.port.to_string()),
        }
        tls: String = ["starttls".into()] {
            env: "OTPGATE_SMTP_TLS",
            check: OneOf(&["starttls", "tls", "none"]),
            default_doc: "`starttls`",
            doc: "`starttls`, `tls` (implicit) or `none` (plain; refused with a password unless the host is loopback)",
            show: |c| show::smtp(c, |s| show::tls(s.tls)),
        }
        username: String = [] {
            env: "OTPGATE_SMTP_USERNAME",
            default_doc: "none",
            doc: "SMTP login",
            show: |c| show::smtp(c, |s| show::opt(s.username.as_deref())),
        }
        password: String = [] {
            env: "OTPGATE_SMTP_PASSWORD",
            default_doc: "none",
            doc: "its password (redacted by `config check`)",
            show: |c| show::smtp(c, |s| show::secret(s.password.is_some())),
        }
        from: String = [] {
            env: "OTPGATE_SMTP_FROM",
            default_doc: "none",
            doc: "sender, e.g. `otpgate <no-reply@example.org>` (required for `smtp`)",
            show: |c| show::smtp(c, |s| s.from.clone()),
        }
        timeout_secs: u64 = [10] {
            env: "OTPGATE_SMTP_TIMEOUT_SECS",
            check: Bounds::between(1, 300),
            default_doc: "`10`",
            doc: "timeout of each network step",
            show: |c| show::smtp(c, |s| s.timeout.as_secs().to_string()),
        }
        ca_file: PathBuf = [] {
            env: "OTPGATE_SMTP_CA_FILE",
            default_doc: "none",
            doc: "extra trusted CA certificate (PEM)",
            show: |c| show::smtp(c, |s| show::path(s.ca_file.as_ref())),
        }
    }
    children {  }
}

section! {
    /// The settings of `[notifier.webhook]`.
    pub struct RawWebhook = "notifier.webhook." {
        url: String = [] {
            env: "OTPGATE_WEBHOOK_URL",
            default_doc: "none",
            doc: "`http(s)://` URL a JSON body is POSTed to per code (required for `webhook`)",
            show: |c| show::webhook(c, |w| redact_query(&redact_url(&w.url))),
        }
        timeout_ms: u64 = [5000] {
            env: "OTPGATE_WEBHOOK_TIMEOUT_MS",
            check: Bounds::between(100, 60_000),
            default_doc: "`5000`",
            doc: "timeout of each attempt",
            show: |c| show::webhook(c, |w| show::ms(w.timeout)),
        }
        retries: u32 = [2] {
            env: "OTPGATE_WEBHOOK_RETRIES",
            check: Bounds::at_most(10),
            default_doc: "`2`",
            doc: "further attempts after a network error, timeout, 5xx or 429",
            show: |c| show::webhook(c, |w| w.retries.to_string()),
        }
        bearer_token: String = [] {
            env: "OTPGATE_WEBHOOK_BEARER_TOKEN",
            default_doc: "none",
            doc: "sent as `Authorization: Bearer` (redacted by `config check`)",
            show: |c| show::webhook(c, |w| show::secret(w.bearer_token.is_some())),
        }
    }
    children {  }
}
