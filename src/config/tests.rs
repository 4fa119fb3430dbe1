//! The configuration's tests: loading from the file and the environment,
//! the defaults, every refusal, the NethCTI drop-in variables, and the
//! shipped example file and README sections.

use std::path::{Path, PathBuf};
use std::time::Duration;

use otpgate_core::config::LegacyPolicy;
use otpgate_http::ConnSettings;

use super::build::build;
use super::dropin::COMPOSITE_VARS;
use super::table::Raw;
use super::{Config, PasswordBackendConfig, settings};

/// `Config::load` with its error as the text `otpgate` prints.
fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    Config::load(file, env).map_err(|e| e.to_string())
}

mod loading {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    /// An empty config file (so a stray ./otpgate.toml is not read).
    fn empty_file() -> PathBuf {
        let path = std::env::temp_dir().join(format!("otpgate-empty-{}.toml", std::process::id()));
        std::fs::write(&path, "").expect("write empty config");
        path
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = build(Raw::default(), None).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./otpgate-data"));
        assert_eq!(c.store.url, "sqlite://./otpgate-data/otpgate.db");
        assert_eq!(c.http.api_prefix, "/api");
        assert_eq!(c.http.body_limit, 32 * 1024);
        assert_eq!(
            (c.http.rate_limit_average, c.http.rate_limit_burst),
            (25, 100)
        );
        assert_eq!(c.policy.token_lifetime_secs, 14 * 24 * 3600);
        assert_eq!(c.policy.persistent_lifetime_secs, 10 * 365 * 24 * 3600);
        assert_eq!(c.policy.otp_lockout.max_failures, 5);
        assert_eq!(c.policy.login_ip.max_failures, 20);
        assert_eq!(c.policy.login_ip.window_secs, Some(600));
        assert!(c.store.sqlite.synchronous_full);
        assert_eq!(c.policy.audit_retention_days, 90);
        assert_eq!(c.policy.password_min_length, 8);
        assert!(!c.policy.two_factor_required);
    }

    #[test]
    fn password_min_length_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[password]\nmin_length = 12\n").expect("write");
        let c = load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.password_min_length, 12);
        let c = load(
            Some(&file),
            &env_of(&[("OTPGATE_PASSWORD_MIN_LENGTH", "10")]),
        )
        .expect("env");
        assert_eq!(c.policy.password_min_length, 10);
        let e = load(None, &env_of(&[("OTPGATE_PASSWORD_MIN_LENGTH", "0")])).expect_err("zero");
        assert!(e.contains("password.min_length"), "{e}");
    }

    #[test]
    fn two_factor_required_is_read_from_file_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[two_factor]\nrequired = true\n").expect("write");
        let c = load(Some(&file), &env_of(&[])).expect("file");
        assert!(c.policy.two_factor_required);
        let c = load(
            Some(&file),
            &env_of(&[("OTPGATE_TWO_FACTOR_REQUIRED", "false")]),
        )
        .expect("env");
        assert!(!c.policy.two_factor_required);
        let e = load(None, &env_of(&[("OTPGATE_TWO_FACTOR_REQUIRED", "maybe")]))
            .expect_err("not a bool");
        assert!(e.contains("OTPGATE_TWO_FACTOR_REQUIRED"), "{e}");
    }

    #[test]
    fn persistent_lifetime_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[jwt]\npersistent_lifetime_secs = 86400\n").expect("write");
        let c = load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.persistent_lifetime_secs, 86400);
        let c = load(
            Some(&file),
            &env_of(&[("OTPGATE_JWT_PERSISTENT_LIFETIME_SECS", "600")]),
        )
        .expect("env");
        assert_eq!(c.policy.persistent_lifetime_secs, 600);
        for bad in ["0", "-5", "99999999999"] {
            let e = load(
                None,
                &env_of(&[("OTPGATE_JWT_PERSISTENT_LIFETIME_SECS", bad)]),
            )
            .expect_err(bad);
            assert!(e.contains("persistent_lifetime_secs"), "{e}");
        }
    }

    #[test]
    fn audit_retention_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[audit]\nretention_days = 30\n").expect("write");
        let c = load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.audit_retention_days, 30);
        let c = load(
            Some(&file),
            &env_of(&[("OTPGATE_AUDIT_RETENTION_DAYS", "0")]),
        )
        .expect("env");
        assert_eq!(c.policy.audit_retention_days, 0);
        let e = load(
            Some(&file),
            &env_of(&[("OTPGATE_AUDIT_RETENTION_DAYS", "99999")]),
        )
        .expect_err("too long");
        assert!(e.contains("audit.retention_days"), "{e}");
    }

    #[test]
    fn env_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/var/lib/otpgate\"\n[rate_limit]\naverage = 5\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_LISTEN", "0.0.0.0:7000"),
            ("OTPGATE_RATE_LIMIT_BURST", "7"),
        ]);
        let c = load(Some(&file), &env).expect("load");
        assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/otpgate"));
        assert_eq!(c.store.url, "sqlite:///var/lib/otpgate/otpgate.db");
        assert_eq!((c.http.rate_limit_average, c.http.rate_limit_burst), (5, 7));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = load(Some(&file), &env_of(&[])).expect_err("typo");
        assert!(err.contains("unknown field `lisen`"), "{err}");
        let err = load(None, &env_of(&[("OTPGATE_LISTEN", "nope")])).expect_err("listen");
        assert!(err.contains("listen"), "{err}");
        let err = load(None, &env_of(&[("OTPGATE_RATE_LIMIT_AVERAGE", "-1")])).expect_err("neg");
        assert!(err.contains("OTPGATE_RATE_LIMIT_AVERAGE"), "{err}");
        let err = load(
            None,
            &env_of(&[("OTPGATE_DATABASE_URL", "mysql://u:pw@h/db")]),
        )
        .expect_err("db");
        assert!(!err.contains("pw"), "password redacted: {err}");
        let err = load(
            None,
            &env_of(&[("OTPGATE_LOCKOUT_OTP_MAX_FAILURES", "500")]),
        )
        .expect_err("nist");
        assert!(err.contains("100"), "{err}");
        let missing = dir.path().join("missing.toml");
        assert!(load(Some(&missing), &env_of(&[])).is_err());
    }

    #[test]
    fn toml_errors_name_the_line_column_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "# otpgate\nlisten = \"127.0.0.1:8080\"\n\n[rate_limit]\naverage = 2.5.1\n",
        )
        .expect("write");
        let err = load(Some(&file), &env_of(&[])).expect_err("bad float");
        assert!(err.contains("line 5, column 14"), "{err}");
        assert!(err.contains("key `rate_limit.average`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        std::fs::write(&file, "[rate_limit]\nburst = \"many\"\n").expect("write");
        let err = load(Some(&file), &env_of(&[])).expect_err("bad type");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("key `rate_limit.burst`"), "{err}");
        assert!(err.contains("u32"), "{err}");
    }

    #[test]
    fn notifier_and_oob_settings_come_from_file_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "[notifier]\nemail = \"smtp\"\n[notifier.smtp]\nhost = \"127.0.0.1\"\nport = 2525\n\
             tls = \"none\"\nfrom = \"otpgate <no-reply@example.org>\"\n[oob]\nsend_max = 3\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_NOTIFIER_SMS", "webhook"),
            ("OTPGATE_WEBHOOK_URL", "http://127.0.0.1:9/sms"),
            ("OTPGATE_WEBHOOK_RETRIES", "4"),
            ("OTPGATE_OOB_SEND_WINDOW_SECS", "60"),
        ]);
        let c = load(Some(&file), &env).expect("load");
        let crate::notifier_config::Transport::Smtp(smtp) = &c.notifier.email else {
            panic!("smtp expected: {:?}", c.notifier.email);
        };
        assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
        let crate::notifier_config::Transport::Webhook(hook) = &c.notifier.sms else {
            panic!("webhook expected: {:?}", c.notifier.sms);
        };
        assert_eq!(hook.retries, 4);
        assert_eq!(c.policy.oob_send.max_failures, 3);
        assert_eq!(c.policy.oob_send.window_secs, Some(60));

        std::fs::write(&file, "[notifier.smtp]\nhots = \"x\"\n").expect("write");
        let err = load(Some(&file), &env_of(&[])).expect_err("typo");
        assert!(err.contains("unknown field `hots`"), "{err}");
        let err = load(None, &env_of(&[("OTPGATE_OOB_SEND_MAX", "0")])).expect_err("0");
        assert!(err.contains("oob.send_max"), "{err}");
    }

    #[test]
    fn connection_settings_come_from_file_and_env() {
        let c = build(Raw::default(), None).expect("defaults");
        assert_eq!(c.http.connections, ConnSettings::default());
        assert_eq!(c.http.connections.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.connections.max_connections, None);
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "[connections]\nheader_timeout_ms = 2000\nidle_timeout_ms = 5000\nmax = 500\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS", "3000"),
            ("OTPGATE_CONNECTIONS_MAX_PER_ADDRESS", "0"),
            ("OTPGATE_CONNECTIONS_MAX", "700"),
        ]);
        let c = load(Some(&file), &env).expect("load").http.connections;
        assert_eq!(c.header_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.body_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, Some(700), "the environment wins");
        assert_eq!(c.max_per_address, 0);
        let err = load(
            None,
            &env_of(&[("OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS", "5")]),
        )
        .expect_err("too short");
        assert!(err.contains("connections.header_timeout_ms"), "{err}");
        let err = load(None, &env_of(&[("OTPGATE_CONNECTIONS_MAX", "0")])).expect_err("zero");
        assert!(err.contains("connections.max"), "{err}");
    }

    #[test]
    fn upstream_legacy_and_ws_settings() {
        let c = build(Raw::default(), None).expect("defaults");
        assert!(c.http.upstream.is_none());
        assert_eq!(c.policy.legacy, LegacyPolicy::default());
        assert!(
            !c.policy.legacy.is_active(1_795_305_600),
            "off by default on 2026-11-22"
        );
        assert_eq!(c.http.ws.login_timeout, Duration::from_secs(10));
        let env = env_of(&[
            ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:9000/app"),
            ("OTPGATE_UPSTREAM_TIMEOUT_MS", "1500"),
            (
                "OTPGATE_UPSTREAM_HEADERS",
                "X-Gateway=otpgate, X-Tenant = acme",
            ),
            ("OTPGATE_LEGACY_ENABLED", "true"),
            ("OTPGATE_LEGACY_SUNSET", "2027-01-01"),
            ("OTPGATE_WS_LOGIN_TIMEOUT_MS", "2000"),
        ]);
        let c = load(None, &env).expect("load");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:9000/app");
        assert_eq!(up.timeout, Duration::from_millis(1500));
        assert_eq!(up.headers.len(), 2);
        assert_eq!(c.policy.legacy.enabled, Some(true));
        assert_eq!(c.policy.legacy.sunset, 1_798_761_600);
        assert_eq!(c.http.ws.login_timeout, Duration::from_secs(2));
        assert!(c.http.upstream_ws.is_none());
        let c = load(
            None,
            &env_of(&[
                ("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8183/socket.io"),
                ("OTPGATE_UPSTREAM_HEADERS", "X-Gateway=otpgate"),
            ]),
        )
        .expect("ws_url alone");
        assert!(c.http.upstream.is_none());
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(relay.url, "ws://127.0.0.1:8183/socket.io/");
        assert_eq!(relay.headers.len(), 1);
        for (k, v, needle) in [
            ("OTPGATE_UPSTREAM_URL", "https://app:443", "upstream.url"),
            ("OTPGATE_UPSTREAM_URL", "ftp://x", "upstream.url"),
            ("OTPGATE_LEGACY_ENABLED", "maybe", "OTPGATE_LEGACY_ENABLED"),
            ("OTPGATE_LEGACY_SUNSET", "June 2026", "legacy.sunset"),
            ("OTPGATE_WS_POLL_INTERVAL_MS", "5000", "ws.poll_interval_ms"),
            ("OTPGATE_UPSTREAM_TIMEOUT_MS", "100", "need upstream.url"),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "http://cti:8183/socket.io/",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://cti:8183/",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://cti:8183/x/?EIO=4",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://u:p@cti/socket.io/",
                "upstream.ws_url",
            ),
            ("OTPGATE_UPSTREAM_WS_URL", "cti:8183", "upstream.ws_url"),
        ] {
            let err = load(None, &env_of(&[(k, v)])).expect_err(k);
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
        let err = load(
            None,
            &env_of(&[
                ("OTPGATE_UPSTREAM_URL", "http://app:1"),
                ("OTPGATE_UPSTREAM_HEADERS", "Authorization=x"),
            ]),
        )
        .expect_err("reserved");
        assert!(err.contains("cannot be set"), "{err}");
    }

    #[test]
    fn nethvoice_middleware_variables_are_read() {
        let env = env_of(&[
            ("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "127.0.0.1:9191"),
            ("NETHVOICE_MIDDLEWARE_ISSUER_2FA", "NethVoice"),
            ("NETHVOICE_MIDDLEWARE_SECRETS_DIR", "/var/lib/whale/secrets"),
            (
                "NETHVOICE_MIDDLEWARE_SENSITIVE_LIST",
                "password,secret,token",
            ),
            ("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "10.0.0.1"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "7"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST", "9"),
            ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "http"),
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
            ("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest/"),
        ]);
        let c = load(Some(&empty_file()), &env).expect("drop-in env");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9191");
        assert_eq!(c.policy.issuer, "NethVoice");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/whale/secrets"));
        assert_eq!(
            c.store.url, "sqlite:///var/lib/whale/secrets/otpgate.db",
            "the data directory moves the default store"
        );
        assert!(c.http.trusted_proxies.0.len() == 1);
        assert_eq!((c.http.rate_limit_average, c.http.rate_limit_burst), (7, 9));
        let up = c.http.upstream.expect("upstream from V1_*");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:8179/webrest");
        assert_eq!(
            c.password_backend,
            PasswordBackendConfig::Nethcti {
                url: "http://127.0.0.1:8179/webrest".into(),
                timeout: Duration::from_secs(10),
            },
            "the V1 variables select the CTI server as password authority"
        );
        // The protocol defaults to http; a path is optional.
        let env = env_of(&[("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "legacy:8080")]);
        let c = load(Some(&empty_file()), &env).expect("endpoint only");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://legacy:8080/");
    }

    #[test]
    fn the_v1_ws_variables_point_the_relay_at_the_cti_socket_io_which_logs_in_with_t() {
        let v1 = ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179");
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                v1,
                ("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "127.0.0.1:8183"),
            ]),
        )
        .expect("V1_WS");
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(relay.url, "ws://127.0.0.1:8183/socket.io/");
        assert!(relay.cti, "nethcti mode: the relayed login carries T");
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                v1,
                ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "https"),
                // (the proxy itself speaks plain HTTP only)
                ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:8179/webrest"),
                ("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "cti.example:8183/"),
                ("NETHVOICE_MIDDLEWARE_V1_WS_PATH", "/io/"),
            ]),
        )
        .expect("wss");
        assert_eq!(
            c.http.upstream_ws.expect("relay").url,
            "wss://cti.example:8183/io/"
        );
        // otpgate's own naming.
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
                ("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io"),
            ]),
        )
        .expect("nethcti.ws_url");
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(
            (relay.url.as_str(), relay.cti),
            ("ws://127.0.0.1:8183/socket.io/", true)
        );
        // Outside nethcti mode the relay never sends a CTI session.
        let c = load(
            Some(&empty_file()),
            &env_of(&[("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8183/socket.io/")]),
        )
        .expect("plain relay");
        assert!(!c.http.upstream_ws.expect("relay").cti);
        for (env, needle) in [
            (
                vec![("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "127.0.0.1:8183")],
                "V1_WS_ENDPOINT needs",
            ),
            (
                vec![v1, ("NETHVOICE_MIDDLEWARE_V1_WS_PATH", "/x")],
                "V1_WS_PATH needs",
            ),
            (
                vec![("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io/")],
                "nethcti.ws_url needs",
            ),
            (
                vec![
                    v1,
                    ("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io/"),
                    ("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8184/socket.io/"),
                ],
                "set one",
            ),
            (
                vec![
                    v1,
                    ("OTPGATE_NETHCTI_WS_URL", "http://127.0.0.1:8183/socket.io/"),
                ],
                "must be ws://",
            ),
        ] {
            let e = load(Some(&empty_file()), &env_of(&env)).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn the_password_backend_is_local_unless_nethcti_is_chosen_with_its_url() {
        let c = load(Some(&empty_file()), &env_of(&[])).expect("defaults");
        assert_eq!(c.password_backend, PasswordBackendConfig::Local);
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "https://cti.example.org/webrest/"),
                ("OTPGATE_NETHCTI_TIMEOUT_MS", "1500"),
            ]),
        )
        .expect("nethcti");
        assert_eq!(
            c.password_backend,
            PasswordBackendConfig::Nethcti {
                url: "https://cti.example.org/webrest".into(),
                timeout: Duration::from_millis(1500),
            }
        );
        // The V1 variables choose nethcti; OTPGATE_AUTH_BACKEND wins.
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                ("OTPGATE_AUTH_BACKEND", "local"),
            ]),
        )
        .expect("local wins");
        assert_eq!(c.password_backend, PasswordBackendConfig::Local);
        assert!(c.http.upstream.is_some(), "forwarding keeps the V1 mapping");
        assert!(c.http.cti.is_none(), "local mode: the generic proxy");
        // With otpgate's own settings, forwarding goes to nethcti.url too
        // (plain http), unless upstream.url is set.
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
            ]),
        )
        .expect("nethcti over http");
        let up = c.http.upstream.expect("forwarding to V1");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:8179/webrest");
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
                ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:9000/cti"),
            ]),
        )
        .expect("an upstream of its own");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:9000/cti");
        // nethcti mode forwards as API.md §9 says, with the FreePBX list.
        let c = load(
            Some(&empty_file()),
            &env_of(&[("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179")]),
        )
        .expect("nethcti");
        let cti = c.http.cti.expect("nethcti forwarding");
        assert_eq!(cti.freepbx_apis.len(), 8);
        assert!(cti.is_freepbx_path("/astproxy/trunk/3"));
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                ("NETHVOICE_MIDDLEWARE_FREEPBX_APIS", "/a/b, /c/"),
                ("OTPGATE_API_PREFIX", ""),
            ]),
        )
        .expect("a list of our own, an empty prefix");
        assert_eq!(c.http.api_prefix, "");
        assert_eq!(
            c.http.cti.expect("cti").freepbx_apis,
            ["/a/b".to_owned(), "/c".to_owned()]
        );
        for (pairs, needle) in [
            (vec![("OTPGATE_AUTH_BACKEND", "nethcti")], "nethcti.url"),
            (vec![("OTPGATE_AUTH_BACKEND", "kerberos")], "auth.backend"),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "ftp://cti/webrest"),
                ],
                "nethcti.url",
            ),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "http://cti/webrest"),
                    ("OTPGATE_NETHCTI_TIMEOUT_MS", "0"),
                ],
                "nethcti.timeout_ms",
            ),
            (
                vec![
                    ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                    ("NETHVOICE_MIDDLEWARE_FREEPBX_APIS", "/a, b/c"),
                ],
                "nethcti.freepbx_apis",
            ),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "http://cti/webrest"),
                    ("OTPGATE_NETHCTI_FREEPBX_APIS", "/a/../b"),
                ],
                "nethcti.freepbx_apis",
            ),
        ] {
            let err = load(Some(&empty_file()), &env_of(&pairs)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn the_ldap_backend_needs_its_url_and_base_and_tls_off_loopback() {
        let c = load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "ldap"),
                ("OTPGATE_LDAP_URL", "ldaps://ldap.example.org:636/"),
                ("OTPGATE_LDAP_BIND_DN", "cn=otpgate,dc=example,dc=org"),
                ("OTPGATE_LDAP_BIND_PASSWORD", "s3cret"),
                ("OTPGATE_LDAP_USER_BASE_DN", "ou=People,dc=example,dc=org"),
                ("OTPGATE_LDAP_EMAIL_ATTRIBUTE", "mail"),
                ("OTPGATE_LDAP_TIMEOUT_MS", "2500"),
            ]),
        )
        .expect("ldap");
        let PasswordBackendConfig::Ldap(l) = &c.password_backend else {
            panic!("{:?}", c.password_backend);
        };
        assert_eq!(l.url, "ldaps://ldap.example.org:636");
        assert!(l.starttls);
        assert_eq!(l.user_filter, "(uid={username})");
        assert_eq!(l.email_attribute.as_deref(), Some("mail"));
        assert_eq!(l.timeout, Duration::from_millis(2500));
        assert!(!format!("{l:?}").contains("s3cret"));
        // Plain LDAP is accepted on loopback only.
        let plain = |host: &str| {
            load(
                Some(&empty_file()),
                &env_of(&[
                    ("OTPGATE_AUTH_BACKEND", "ldap"),
                    ("OTPGATE_LDAP_URL", &format!("ldap://{host}:389")),
                    ("OTPGATE_LDAP_STARTTLS", "false"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=example,dc=org"),
                ]),
            )
        };
        assert!(plain("127.0.0.1").is_ok());
        assert!(plain("[::1]").is_ok());
        assert!(plain("localhost").is_ok());
        let err = plain("ldap.example.org").expect_err("plain off loopback");
        assert!(err.contains("ldap.starttls"), "{err}");
        let base = [("OTPGATE_AUTH_BACKEND", "ldap")];
        for (more, needle) in [
            (vec![], "ldap.url"),
            (vec![("OTPGATE_LDAP_URL", "http://x")], "ldap.url"),
            (vec![("OTPGATE_LDAP_URL", "ldap://x")], "ldap.user_base_dn"),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_USER_FILTER", "(uid=alice)"),
                ],
                "ldap.user_filter",
            ),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_BIND_DN", "cn=a"),
                ],
                "ldap.bind_password",
            ),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_CA_FILE", "/nonexistent/ca.pem"),
                ],
                "ldap.ca_file",
            ),
        ] {
            let pairs: Vec<_> = base.iter().copied().chain(more).collect();
            let err = load(Some(&empty_file()), &env_of(&pairs)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn otpgate_variables_win_over_nethvoice_ones() {
        let env = env_of(&[
            ("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "127.0.0.1:9191"),
            ("OTPGATE_LISTEN", "127.0.0.1:9292"),
            ("NETHVOICE_MIDDLEWARE_ISSUER_2FA", "NethVoice"),
            ("OTPGATE_ISSUER", "Ours"),
            ("NETHVOICE_MIDDLEWARE_SECRETS_DIR", "/a"),
            ("OTPGATE_DATA_DIR", "/b"),
            ("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "10.0.0.1"),
            ("OTPGATE_TRUSTED_PROXIES", "10.0.0.2,10.0.0.3"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "7"),
            ("OTPGATE_RATE_LIMIT_AVERAGE", "0"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST", "9"),
            ("OTPGATE_RATE_LIMIT_BURST", "11"),
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "legacy:8080"),
            ("OTPGATE_UPSTREAM_URL", "http://app:9000"),
        ]);
        let c = load(Some(&empty_file()), &env).expect("both");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9292");
        assert_eq!(c.policy.issuer, "Ours");
        assert_eq!(c.data_dir, PathBuf::from("/b"));
        assert_eq!(c.http.trusted_proxies.0.len(), 2);
        assert_eq!(
            (c.http.rate_limit_average, c.http.rate_limit_burst),
            (0, 11)
        );
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://app:9000/");
    }

    #[test]
    fn nethvoice_middleware_variables_are_validated() {
        for (pairs, needle) in [
            (
                vec![("NETHVOICE_MIDDLEWARE_SENSITIVE_LIST", "pass word,<x>")],
                "SENSITIVE_LIST",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "many")],
                "GLOBAL_RATE_LIMIT_AVERAGE",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "nowhere")],
                "listen",
            ),
            (
                vec![
                    ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "gopher"),
                    ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "x:1"),
                ],
                "V1_PROTOCOL",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest")],
                "V1_API_ENDPOINT",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "not-an-ip")],
                "trusted_proxies",
            ),
        ] {
            let err =
                load(Some(&empty_file()), &env_of(&pairs)).expect_err("invalid drop-in value");
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
        // A valid sensitive list alone changes nothing else.
        let c = load(
            Some(&empty_file()),
            &env_of(&[("NETHVOICE_MIDDLEWARE_SENSITIVE_LIST", "password,secret")]),
        )
        .expect("valid list");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }
}

mod example_file {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid_and_lists_every_env_var() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("otpgate.example.toml");
        let c = load(Some(&path), &|_| None).expect("example config loads");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        let text = std::fs::read_to_string(&path).expect("read");
        for var in settings().iter().map(|s| s.env) {
            assert!(
                text.contains(var),
                "{var} is documented in otpgate.example.toml"
            );
        }
    }

    #[test]
    fn the_readme_ldap_examples_are_valid_configurations() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).expect("read README");
        let section = text
            .split("## Passwords from LDAP")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Passwords from LDAP section");
        let blocks: Vec<&str> = section
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert_eq!(
            blocks.len(),
            2,
            "an OpenLDAP and an Active Directory example"
        );
        for (i, block) in blocks.iter().enumerate() {
            // The CA file of the example does not exist here.
            let toml: String = block
                .lines()
                .filter(|l| !l.starts_with("ca_file"))
                .map(|l| format!("{l}\n"))
                .collect();
            let file = std::env::temp_dir().join(format!(
                "otpgate-readme-ldap-{}-{i}.toml",
                std::process::id()
            ));
            std::fs::write(&file, toml).expect("write");
            let c = load(Some(&file), &|_| None);
            let _ = std::fs::remove_file(&file);
            let c = c.unwrap_or_else(|e| panic!("README LDAP example {i}: {e}"));
            let PasswordBackendConfig::Ldap(l) = &c.password_backend else {
                panic!("README LDAP example {i}: {:?}", c.password_backend);
            };
            assert!(l.user_filter.contains("{username}"));
        }
    }

    #[test]
    fn the_readme_drop_in_table_lists_every_nethvoice_variable() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).expect("read README");
        let section = text
            .split("### Drop-in configuration")
            .nth(1)
            .expect("README has a Drop-in configuration section");
        for row in settings() {
            let Some(var) = row.dropin else { continue };
            let line = section
                .lines()
                .find(|l| l.starts_with(&format!("| `{var}` |")))
                .unwrap_or_else(|| panic!("{var} has its row in README's drop-in table"));
            assert!(
                line.contains(&format!("`{}` (`{}`)", row.key, row.env)),
                "README's drop-in row of {var} names {} ({}): {line}",
                row.key,
                row.env
            );
        }
        let all: Vec<&str> = settings()
            .iter()
            .filter_map(|s| s.dropin)
            .chain(COMPOSITE_VARS.iter().copied())
            .collect();
        assert_eq!(all.len(), 13, "the middleware's 13 variables: {all:?}");
        for var in all {
            let short = var.trim_start_matches("NETHVOICE_MIDDLEWARE");
            assert!(
                section.contains(var) || section.contains(&format!("`{short}`")),
                "{var} is in README's drop-in table"
            );
        }
    }
}

/// The settings table against what else describes the settings: the
/// crates' own defaults, README's settings table and the example file.
mod table_docs {
    use std::collections::BTreeSet;

    use otpgate_core::config::Policy;
    use otpgate_http::WsSettings;
    use otpgate_store::PostgresOptions;

    use super::*;

    fn read(name: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).expect(name)
    }

    #[test]
    fn the_table_defaults_are_the_crates_defaults() {
        let c = build(Raw::default(), None).expect("defaults");
        let p = Policy::default();
        assert_eq!(c.policy.token_lifetime_secs, p.token_lifetime_secs);
        assert_eq!(
            c.policy.persistent_lifetime_secs,
            p.persistent_lifetime_secs
        );
        assert_eq!(c.policy.totp_skew_steps, p.totp_skew_steps);
        assert_eq!(c.policy.otp_lockout, p.otp_lockout);
        assert_eq!(c.policy.login_user, p.login_user);
        assert_eq!(c.policy.login_ip, p.login_ip);
        assert_eq!(c.policy.argon2, p.argon2);
        assert_eq!(c.policy.hashing_threads, p.hashing_threads);
        assert_eq!(c.policy.hashing_queue, p.hashing_queue);
        assert_eq!(c.policy.oob_send, p.oob_send);
        assert_eq!(c.policy.legacy, LegacyPolicy::default());
        assert_eq!(c.policy.audit_retention_days, p.audit_retention_days);
        assert_eq!(c.policy.password_min_length, p.password_min_length);
        assert_eq!(c.policy.two_factor_required, p.two_factor_required);
        assert_eq!(c.policy.issuer, p.issuer);
        assert_eq!(c.http.ws, WsSettings::default());
        assert_eq!(c.http.connections, ConnSettings::default());
        assert_eq!(
            c.http.legacy_docs_url,
            otpgate_http::DEFAULT_LEGACY_DOCS_URL
        );
        let pg = PostgresOptions::default();
        assert_eq!(
            (
                c.store.postgres.max_connections,
                c.store.postgres.acquire_timeout,
                c.store.postgres.connect_timeout
            ),
            (pg.max_connections, pg.acquire_timeout, pg.connect_timeout)
        );
    }

    /// README's row of `s`, as the table says it.
    fn readme_row(s: &super::super::section::Setting) -> String {
        format!(
            "| `{}` | `{}`{} | {} | {} |",
            s.key, s.env, s.env_form, s.default_doc, s.doc
        )
    }

    #[test]
    fn the_readme_settings_table_is_the_table() {
        let readme = read("README.md");
        let section = readme
            .split("| file key | environment variable | default | meaning |")
            .nth(1)
            .expect("README has the settings table");
        // Variables that are not settings of the file (read by `commands`).
        let env_only = ["| | `OTPGATE_LOG` |"];
        let rows: Vec<&str> = section
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter(|l| !env_only.iter().any(|e| l.starts_with(e)))
            .collect();
        let expected: Vec<String> = settings().into_iter().map(readme_row).collect();
        assert_eq!(
            rows,
            expected,
            "README's settings table must be exactly the rows of config::table; as they are:\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn the_readme_defaults_are_the_typed_defaults() {
        for s in settings() {
            let Some(value) = (s.default_toml)() else {
                continue;
            };
            let text = match &value {
                toml::Value::String(v) => v.clone(),
                toml::Value::Array(a) if a.is_empty() => {
                    assert_eq!(s.default_doc, "none", "{}", s.key);
                    continue;
                }
                other => other.to_string(),
            };
            assert!(
                s.default_doc.starts_with(&format!("`{text}`")),
                "{}: README says {}, the table {text}",
                s.key,
                s.default_doc
            );
        }
    }

    /// `(commented out, section.key, value)` of every `key = value` line of
    /// the example file (`None`: a commented-out value on several lines).
    fn example_entries() -> Vec<(bool, String, Option<toml::Value>)> {
        let text = read("otpgate.example.toml");
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                h.clone_into(&mut section);
                continue;
            }
            let commented = line.starts_with('#');
            let body = line.trim_start_matches('#').trim_start();
            let Some((key, value)) = body.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                continue;
            }
            let parsed = toml::from_str::<toml::Table>(&format!("v = {}", value.trim()));
            // A commented-out example may span lines (then it is not read).
            let value = match parsed {
                Ok(t) => t.get("v").cloned(),
                Err(e) if !commented => panic!("{line}: {e}"),
                Err(_) => None,
            };
            let full = if section.is_empty() {
                key.to_owned()
            } else {
                format!("{section}.{key}")
            };
            out.push((commented, full, value));
        }
        out
    }

    #[test]
    fn the_example_file_lists_every_row_with_its_default_and_nothing_else() {
        let entries = example_entries();
        let in_example: BTreeSet<&str> = entries.iter().map(|(_, k, _)| k.as_str()).collect();
        let in_table: BTreeSet<&str> = settings().iter().map(|s| s.key).collect();
        let missing: Vec<_> = in_table.difference(&in_example).collect();
        let extra: Vec<_> = in_example.difference(&in_table).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "otpgate.example.toml's entries are the table's rows: missing {missing:?}, not settings {extra:?}"
        );
        assert_eq!(in_example.len(), entries.len(), "an entry written twice");
        for s in settings() {
            let Some((commented, _, Some(value))) = entries.iter().find(|(_, k, _)| k == s.key)
            else {
                continue;
            };
            let default = (s.default_toml)();
            if *commented && default.is_none() {
                continue; // an example of a setting without a default
            }
            assert_eq!(
                Some(value.clone()),
                default,
                "{}: otpgate.example.toml shows it with another value than its default",
                s.key
            );
        }
    }
}

/// The notifier settings (`config::notify` and the notifier rules).
mod notifier {
    use otpgate_notify::SmtpTls;

    use super::*;
    use crate::notifier_config::{Transport, describe_transport};

    fn from(toml: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, toml).expect("write");
        load(Some(&file), &|_| None)
    }

    #[test]
    fn the_default_is_the_outbox_for_both_channels() {
        let c = from("").expect("default");
        assert!(matches!(c.notifier.email, Transport::Outbox));
        assert!(matches!(c.notifier.sms, Transport::Outbox));
    }

    #[test]
    fn smtp_needs_host_and_sender_and_defaults_to_starttls_587() {
        let e = from("[notifier]\nemail = \"smtp\"\n").expect_err("host");
        assert!(e.contains("notifier.smtp.host"), "{e}");
        let e =
            from("[notifier]\nemail = \"smtp\"\n[notifier.smtp]\nhost = \"mail.example.org\"\n")
                .expect_err("from");
        assert!(e.contains("notifier.smtp.from"), "{e}");
        let c = from(
            "[notifier]\nemail = \"SMTP\"\n[notifier.smtp]\nhost = \"mail.example.org\"\n\
             from = \"otpgate <no-reply@example.org>\"\n",
        )
        .expect("ok");
        let Transport::Smtp(s) = c.notifier.email else {
            panic!("smtp expected");
        };
        assert_eq!((s.port, s.tls), (587, SmtpTls::StartTls));
    }

    #[test]
    fn a_password_is_never_sent_in_clear_text_off_the_machine() {
        let smtp = |host: &str| {
            from(&format!(
                "[notifier]\nemail = \"smtp\"\n[notifier.smtp]\nhost = \"{host}\"\n\
                 from = \"a@example.org\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n"
            ))
        };
        let e = smtp("mail.example.org").expect_err("clear");
        assert!(e.contains("clear text"), "{e}");
        let c = smtp("127.0.0.1").expect("loopback relay");
        let text = [&c.notifier.email, &c.notifier.sms]
            .map(describe_transport)
            .join("\n");
        assert!(text.contains("password=***"), "{text}");
        assert!(!text.contains("=p "), "{text}");
    }

    #[test]
    fn webhook_needs_an_http_url_and_sms_cannot_be_smtp() {
        let e = from("[notifier]\nsms = \"webhook\"\n").expect_err("url");
        assert!(e.contains("notifier.webhook.url"), "{e}");
        let e = from("[notifier]\nsms = \"webhook\"\n[notifier.webhook]\nurl = \"ftp://x\"\n")
            .expect_err("scheme");
        assert!(e.contains("http://"), "{e}");
        let e = from("[notifier]\nsms = \"smtp\"\n").expect_err("sms smtp");
        assert!(e.contains("cannot"), "{e}");
        let c = from(
            "[notifier]\nsms = \"webhook\"\n[notifier.webhook]\n\
             url = \"https://gw.example.org/send?token=s3cret\"\nbearer_token = \"t0ken\"\n",
        )
        .expect("ok");
        let text = [&c.notifier.email, &c.notifier.sms]
            .map(describe_transport)
            .join("\n");
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
