//! The settings table: one row per setting (TOML key, type, default, check,
//! environment variable, README text, what `config check` prints), grouped
//! by section. Everything else about a setting is generated from its row
//! by `section!` (see `config::section`): the file's struct field, the
//! `OTPGATE_*` overlay, the checked accessor and the `config check` line.
//! README's settings table and `otpgate.example.toml` are pinned to these
//! rows by `config`'s tests.
//!
//! Adding a setting:
//! 1. one row in the file of its section (a new section: one `section!`
//!    block and one entry in its parent's `children`);
//! 2. its use: read it with `raw.<section>.<key>()?` in `config::build` or
//!    `config::build_http` and put it where it is used (a rule involving
//!    another setting goes in `config::rules::check`);
//! 3. the tests then ask for its README row (they print the exact table)
//!    and its `otpgate.example.toml` entry.

use std::path::PathBuf;

use crate::config::forms;
use crate::config::model::LogFormat;
use crate::config::section::{Setting, section};
use crate::config::value::{Bounds, Exactly, Form};
use crate::redact::redact_url;

mod backend;
mod gateway;
mod limits;
mod notifier;
mod store;

pub use backend::{RawAuth, RawLdap, RawNethcti};
pub use gateway::{RawConnections, RawLegacy, RawUpstream, RawWs};
pub use limits::{
    RawArgon2, RawAudit, RawJwt, RawLockout, RawOob, RawPassword, RawRateLimit, RawTotp,
    RawTwoFactor,
};
pub use notifier::RawNotifier;
pub use store::{RawPostgres, RawSqlite};

section! {
    /// The settings of the top level.
    pub struct Raw = "" {
        listen: String = ["127.0.0.1:8080".into()] {
            env: "OTPGATE_LISTEN",
            dropin: "NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS",
            default_doc: "`127.0.0.1:8080`",
            doc: "address to listen on",
            show: |c| c.listen.to_string(),
        }
        data_dir: PathBuf = ["./otpgate-data".into()] {
            env: "OTPGATE_DATA_DIR",
            dropin: "NETHVOICE_MIDDLEWARE_SECRETS_DIR",
            default_doc: "`./otpgate-data`",
            doc: "SQLite file and key files",
            show: |c| c.data_dir.display().to_string(),
        }
        database_url: String = [] {
            env: "OTPGATE_DATABASE_URL",
            check: Form(forms::database_url),
            default_doc: "`sqlite://<data_dir>/otpgate.db`",
            doc: "`sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`",
            show: |c| redact_url(&c.store.url),
        }
        api_prefix: String = ["/api".into()] {
            env: "OTPGATE_API_PREFIX",
            check: Form(forms::api_prefix),
            default_doc: "`/api`",
            doc: "prefix of the native API; may be empty (`\"\"`: behind a proxy that strips `/api`, as NethVoice's Traefik does)",
            show: |c| c.http.api_prefix.clone(),
        }
        issuer: String = ["otpgate".into()] {
            env: "OTPGATE_ISSUER",
            dropin: "NETHVOICE_MIDDLEWARE_ISSUER_2FA",
            check: Form(forms::issuer),
            default_doc: "`otpgate`",
            doc: "issuer in authenticator apps and in the JWT `iss`",
            show: |c| c.policy.issuer.clone(),
        }
        trusted_proxies: Vec<String> = [Vec::new()] {
            env: "OTPGATE_TRUSTED_PROXIES",
            dropin: "NETHVOICE_MIDDLEWARE_TRUSTED_PROXY",
            default_doc: "none",
            doc: "peers whose `X-Forwarded-For` is believed (IPs or CIDRs)",
            show: |c| {
                let proxies = &c.http.trusted_proxies.0;
                if proxies.is_empty() {
                    "(none)".to_owned()
                } else {
                    format!("{proxies:?}")
                }
            },
        }
        body_limit_bytes: usize = [32 * 1024] {
            env: "OTPGATE_BODY_LIMIT_BYTES",
            check: Bounds::at_least(1024),
            default_doc: "`32768`",
            doc: "larger request bodies get 413",
            show: |c| c.http.body_limit.to_string(),
        }
        log_format: String = ["text".into()] {
            env: "OTPGATE_LOG_FORMAT",
            check: Exactly(&["text", "json"]),
            default_doc: "`text`",
            doc: "`text` or `json` (stderr)",
            show: |c| match c.log_format {
                LogFormat::Text => "text".to_owned(),
                LogFormat::Json => "json".to_owned(),
            },
        }
    }
    children { jwt: RawJwt, totp: RawTotp, lockout: RawLockout, rate_limit: RawRateLimit, sqlite: RawSqlite, postgres: RawPostgres, argon2: RawArgon2, oob: RawOob, notifier: RawNotifier, ws: RawWs, connections: RawConnections, upstream: RawUpstream, legacy: RawLegacy, audit: RawAudit, password: RawPassword, auth: RawAuth, nethcti: RawNethcti, ldap: RawLdap, two_factor: RawTwoFactor }
}

/// Every row of the table, in its order (README's).
pub fn all() -> Vec<&'static Setting> {
    let mut out = Vec::new();
    Raw::collect(&mut out);
    out
}
