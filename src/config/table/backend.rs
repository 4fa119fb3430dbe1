//! Rows of the settings table: who checks passwords (local, the NethCTI
//! server, LDAP).

use std::path::PathBuf;

use crate::config::forms;
use crate::config::model::PasswordBackendConfig;
use crate::config::section::section;
use crate::config::show;
use crate::config::value::{Bounds, Form};
use crate::redact::redact_url;

section! {
    /// The settings of `[auth]`.
    pub struct RawAuth = "auth." {
        backend: String = ["local".into()] {
            env: "OTPGATE_AUTH_BACKEND",
            check: Form(forms::password_backend),
            default_doc: "`local`",
            doc: "who checks passwords: `local` (argon2id hashes in the store), `nethcti` (the CTI server, [In front of NethVoice](#in-front-of-nethvoice)) or `ldap` (a directory, [Passwords from LDAP](#passwords-from-ldap))",
            show: |c| show::backend(c).to_owned(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[nethcti]`.
    pub struct RawNethcti = "nethcti." {
        url: String = [] {
            env: "OTPGATE_NETHCTI_URL",
            default_doc: "none",
            doc: "the CTI server's REST base `V1`, `http(s)://HOST[:PORT][/PATH]`, e.g. `http://127.0.0.1:8179/webrest` (required for `nethcti`)",
            show: |c| show::nethcti(c, |url, _| redact_url(url)),
        }
        timeout_ms: u64 = [10_000] {
            env: "OTPGATE_NETHCTI_TIMEOUT_MS",
            check: Bounds::positive(),
            default_doc: "`10000`",
            doc: "bound of each call to the CTI server; past it the login answers 503",
            show: |c| show::nethcti(c, |_, t| show::ms(t)),
        }
        ws_url: String = [] {
            env: "OTPGATE_NETHCTI_WS_URL",
            default_doc: "none",
            doc: "`nethcti` mode: the CTI server's Socket.IO, `ws://` or `wss://HOST:PORT/PATH/` (e.g. `ws://127.0.0.1:8183/socket.io/`); every logged-in socket is relayed there and logs in with the user's CTI session ([In front of NethVoice](#in-front-of-nethvoice)). Set this or `upstream.ws_url`, not both",
            show: |c| match (&c.password_backend, c.http.upstream_ws.as_ref()) {
                (PasswordBackendConfig::Nethcti { .. }, Some(w)) if w.cti => redact_url(&w.url),
                (PasswordBackendConfig::Nethcti { .. }, _) => "(none: no Socket.IO relay)".to_owned(),
                _ => show::off(c, "nethcti"),
            },
        }
        freepbx_apis: Vec<String> = [] {
            env: "OTPGATE_NETHCTI_FREEPBX_APIS",
            dropin: "NETHVOICE_MIDDLEWARE_FREEPBX_APIS",
            default_doc: "`/dbconn/test`, `/custcard/preview`, `/user/endpoints/all`, `/user/presence`, `/astproxy/extension`, `/astproxy/extensions`, `/astproxy/trunk`, `/astproxy/trunks`",
            doc: "`nethcti` mode: paths below the API prefix (each also with `/<digits>` after it) that a request with `User: admin` and a non-empty `Secretkey` reaches without a token ([In front of NethVoice](#in-front-of-nethvoice))",
            show: |c| {
                c.http.cti.as_ref().map_or_else(
                    || show::off(c, "nethcti"),
                    |cti| format!("{:?}", cti.freepbx_apis),
                )
            },
        }
    }
    children {  }
}

section! {
    /// The settings of `[ldap]`.
    pub struct RawLdap = "ldap." {
        url: String = [] {
            env: "OTPGATE_LDAP_URL",
            check: Form(forms::ldap_url),
            default_doc: "none",
            doc: "the directory, `ldaps://HOST[:PORT]` or `ldap://HOST[:PORT]` (required for `ldap`)",
            show: |c| show::ldap(c, |l| l.url.clone()),
        }
        starttls: bool = [true] {
            env: "OTPGATE_LDAP_STARTTLS",
            default_doc: "`true`",
            doc: "StartTLS on an `ldap://` URL; `false` (passwords in clear) only for a loopback host",
            show: |c| {
                show::ldap(c, |l| {
                    if l.url.starts_with("ldaps://") {
                        "false (ldaps: TLS from the start)".to_owned()
                    } else if l.starttls {
                        "true".to_owned()
                    } else {
                        "false (plain, loopback only)".to_owned()
                    }
                })
            },
        }
        ca_file: PathBuf = [] {
            env: "OTPGATE_LDAP_CA_FILE",
            check: Form(forms::readable),
            default_doc: "none",
            doc: "an extra trusted CA certificate (PEM) besides the system ones",
            show: |c| show::ldap(c, |l| show::path(l.ca_file.as_ref())),
        }
        bind_dn: String = [] {
            env: "OTPGATE_LDAP_BIND_DN",
            default_doc: "none",
            doc: "the service account that searches the users (none: anonymous search)",
            show: |c| {
                show::ldap(c, |l| {
                    l.bind_dn
                        .clone()
                        .unwrap_or_else(|| "(none: anonymous search)".to_owned())
                })
            },
        }
        bind_password: String = [] {
            env: "OTPGATE_LDAP_BIND_PASSWORD",
            default_doc: "none",
            doc: "its password (required with `bind_dn`; never printed by `config check`)",
            show: |c| show::ldap(c, |l| show::secret(l.bind_password.is_some())),
        }
        user_base_dn: String = [] {
            env: "OTPGATE_LDAP_USER_BASE_DN",
            default_doc: "none",
            doc: "where users are searched, whole subtree (required for `ldap`)",
            show: |c| show::ldap(c, |l| l.user_base_dn.clone()),
        }
        user_filter: String = ["(uid={username})".into()] {
            env: "OTPGATE_LDAP_USER_FILTER",
            check: Form(forms::user_filter),
            default_doc: "`(uid={username})`",
            doc: "the search filter; `{username}` is the username escaped per RFC 4515",
            show: |c| show::ldap(c, |l| l.user_filter.clone()),
        }
        display_name_attribute: String = [] {
            env: "OTPGATE_LDAP_DISPLAY_NAME_ATTRIBUTE",
            default_doc: "none",
            doc: "copied into the display name at each login (e.g. `cn`, `displayName`)",
            show: |c| show::ldap(c, |l| show::opt(l.display_name_attribute.as_deref())),
        }
        email_attribute: String = [] {
            env: "OTPGATE_LDAP_EMAIL_ATTRIBUTE",
            default_doc: "none",
            doc: "copied into the e-mail address at each login (e.g. `mail`)",
            show: |c| show::ldap(c, |l| show::opt(l.email_attribute.as_deref())),
        }
        phone_attribute: String = [] {
            env: "OTPGATE_LDAP_PHONE_ATTRIBUTE",
            default_doc: "none",
            doc: "copied into the phone number at each login (e.g. `telephoneNumber`, `mobile`)",
            show: |c| show::ldap(c, |l| show::opt(l.phone_attribute.as_deref())),
        }
        timeout_ms: u64 = [10_000] {
            env: "OTPGATE_LDAP_TIMEOUT_MS",
            check: Bounds::positive(),
            default_doc: "`10000`",
            doc: "bound of each step (connection, TLS, each bind, the search); past it the login answers 503",
            show: |c| show::ldap(c, |l| show::ms(l.timeout)),
        }
    }
    children {  }
}
