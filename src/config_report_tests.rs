//! `config check` prints every setting of the table, once, and no secret;
//! the parts not in use say so. (README's table and otpgate.example.toml
//! are pinned to the table by `config`'s tests.)

use std::collections::BTreeSet;

use super::settings;
use crate::config::Config;

fn known_keys() -> Vec<String> {
    crate::config::settings()
        .iter()
        .map(|s| s.key.to_owned())
        .collect()
}

fn load(toml: &str) -> Config {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("otpgate.toml");
    std::fs::write(&file, toml).expect("write");
    Config::load(Some(&file), &|_| None).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

/// One configuration per optional part (each backend, each notifier, the
/// proxy, PostgreSQL), with a secret in every secret setting.
const CONFIGS: &[&str] = &[
    "",
    r#"
database_url = "postgres://otp:db-secret-9@db.example:5432/otpgate"
[auth]
backend = "ldap"
[ldap]
url = "ldaps://ldap.example.org"
bind_dn = "cn=otpgate,dc=example,dc=org"
bind_password = "svc-secret-9"
user_base_dn = "ou=People,dc=example,dc=org"
[notifier]
email = "smtp"
sms = "webhook"
[notifier.smtp]
host = "mail.example.org"
from = "otpgate <no-reply@example.org>"
username = "otpgate"
password = "smtp-secret-9"
[notifier.webhook]
url = "https://sms.example.org/send?token=url-secret-9"
bearer_token = "hook-secret-9"
[upstream]
url = "http://127.0.0.1:9000"
ws_url = "ws://127.0.0.1:8183/socket.io/"
headers = { "X-Api-Key" = "hdr-secret-9" }
"#,
    r#"
[auth]
backend = "nethcti"
[nethcti]
url = "http://127.0.0.1:8179/webrest"
"#,
];

#[test]
fn config_check_prints_every_setting_once_and_no_secret() {
    let known: BTreeSet<String> = known_keys().into_iter().collect();
    assert!(known.len() > 70, "the rows of the table: {known:?}");
    assert!(known.contains("ldap.bind_password") && known.contains("notifier.smtp.host"));
    for toml in CONFIGS {
        let printed = settings(&load(toml));
        let keys: BTreeSet<String> = printed.iter().map(|(k, _)| (*k).to_owned()).collect();
        assert_eq!(keys.len(), printed.len(), "a key printed twice");
        let missing: Vec<_> = known.difference(&keys).collect();
        let extra: Vec<_> = keys.difference(&known).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "not printed: {missing:?}; printed but not a setting: {extra:?}"
        );
        let text: String = printed.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        assert!(!text.contains("secret-9"), "{text}");
    }
}

#[test]
fn the_chosen_parts_print_their_values_and_the_others_say_unused() {
    let text = |toml| -> String {
        settings(&load(toml))
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    };
    let local = text(CONFIGS[0]);
    assert!(local.contains("auth.backend: local\n"), "{local}");
    assert!(local.contains("ldap.url: (not used: auth.backend is local, not ldap)\n"));
    assert!(local.contains("legacy.enabled: (unset: on until 2026-06-01T00:00:00Z)\n"));
    assert!(local.contains("legacy.sunset: 2026-06-01T00:00:00Z\n"));
    assert!(local.contains("postgres.max_connections: 16 (not used: the store is SQLite)\n"));
    let ldap = text(CONFIGS[1]);
    for line in [
        "ldap.url: ldaps://ldap.example.org\n",
        "ldap.bind_password: ***\n",
        "ldap.user_base_dn: ou=People,dc=example,dc=org\n",
        "ldap.user_filter: (uid={username})\n",
        "ldap.timeout_ms: 10000\n",
        "database_url: postgres://otp:***@db.example:5432/otpgate\n",
        "postgres.max_connections: 16\n",
        "sqlite.synchronous: full (not used: the store is PostgreSQL)\n",
        "notifier.smtp.password: ***\n",
        "notifier.webhook.bearer_token: ***\n",
        "upstream.headers: x-api-key=***\n",
        "upstream.ws_url: ws://127.0.0.1:8183/socket.io/\n",
        "nethcti.url: (not used: auth.backend is ldap, not nethcti)\n",
    ] {
        assert!(ldap.contains(line), "{line} in:\n{ldap}");
    }
    let cti = text(CONFIGS[2]);
    assert!(
        cti.contains("nethcti.url: http://127.0.0.1:8179/webrest\n"),
        "{cti}"
    );
    assert!(cti.contains("nethcti.timeout_ms: 10000\n"), "{cti}");
    assert!(
        cti.contains("nethcti.ws_url: (none: no Socket.IO relay)\n"),
        "{cti}"
    );
    assert!(
        cti.contains("nethcti.freepbx_apis: [\"/dbconn/test\""),
        "{cti}"
    );
}
