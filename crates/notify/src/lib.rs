//! otpgate-notify: the notifiers that leave the process, behind the core's
//! [`otpgate_core::notify::Notifier`] trait.
//!
//! - [`smtp::SmtpNotifier`]: e-mail over SMTP (lettre), with STARTTLS,
//!   implicit TLS or (for a relay on loopback) none.
//! - [`webhook::WebhookNotifier`]: an HTTP POST of a JSON body to an SMS
//!   gateway (or any service), with a timeout per attempt and retries.
//!
//! They live here, not in the core, so the core stays free of network
//! clients; the binary picks one per channel from the configuration.

pub mod smtp;
pub mod webhook;

pub use smtp::{SmtpNotifier, SmtpSettings, SmtpTls};
pub use webhook::{WebhookNotifier, WebhookSettings};
