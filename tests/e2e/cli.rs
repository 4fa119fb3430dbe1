//! The CLI on the same store as a running server: users, passwords, 2FA
//! reset, mass revocation, exit codes and one-line errors.

use std::time::Duration;

use serde_json::json;

use crate::support::{Http, Server, cli_in, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_token_commands_work_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();

    let out = server.cli(
        &[
            "user",
            "add",
            "Bob",
            "--email",
            "bob@example.org",
            "--phone",
            "+3912345",
            "--role",
            "operator",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let pw = stdout
        .lines()
        .find(|l| l.starts_with("password"))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        pw.len() >= 16,
        "a random password is generated and printed once"
    );
    let (s, body) = http.try_login(&server.base, "bob", &pw).await;
    assert_eq!(s, 200);
    let token = body["token"].as_str().unwrap().to_owned();

    let list = server.cli(&["user", "list", "--json"], None);
    let lines: Vec<serde_json::Value> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bob = lines
        .iter()
        .find(|u| u["username"] == "bob")
        .expect("bob listed");
    assert_eq!(bob["role"], "operator");
    assert_eq!(bob["phone"], "+3912345");
    assert_eq!(
        bob["backend"], "local",
        "which password backend the user belongs to"
    );
    let show = server.cli(&["user", "show", "BOB"], None);
    assert!(text(&show.stdout).contains("email: bob@example.org"));
    assert!(text(&show.stdout).contains("backend: local"));
    let table = server.cli(&["user", "list"], None);
    assert!(
        text(&table.stdout).contains(" BACKEND "),
        "{}",
        text(&table.stdout)
    );

    let revoke = server.cli(&["token", "revoke-all", "bob"], None);
    assert!(revoke.status.success());
    let (s, _) = http.me(&server.base, &token).await;
    assert_eq!(
        s, 401,
        "revoke-all from the CLI is seen by the running server"
    );

    let passwd = server.cli(
        &["user", "passwd", "bob", "--password-stdin"],
        Some("N3w-pass\n"),
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    let (s, _) = http.try_login(&server.base, "bob", &pw).await;
    assert_eq!(s, 401);
    let (s, _) = http.try_login(&server.base, "bob", "N3w-pass").await;
    assert_eq!(s, 200);

    let reset = server.cli(&["user", "reset-2fa", "bob"], None);
    assert!(reset.status.success());
    assert!(text(&reset.stdout).contains("was not on"));

    let del = server.cli(&["user", "del", "bob"], None);
    assert!(del.status.success());
    let (s, _) = http.try_login(&server.base, "bob", "N3w-pass").await;
    assert_eq!(s, 401);
}

#[test]
fn errors_exit_1_with_one_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    // A store to work on (the commands below never create one).
    let out = cli_in(dir.path(), &env, &["migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for args in [
        vec!["user", "show", "nobody"],
        vec!["user", "del", "nobody"],
        vec!["user", "frobnicate"],
        vec!["serve", "--bogus"],
        vec!["user", "add", "bad name", "--password-stdin"],
    ] {
        let out = cli_in(dir.path(), &env, &args, Some("pw-secret-9\n"));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
    }
    let dup = cli_in(
        dir.path(),
        &env,
        &["user", "add", "carol", "--password-stdin"],
        Some("pw-secret-9\n"),
    );
    assert!(dup.status.success());
    let dup = cli_in(
        dir.path(),
        &env,
        &["user", "add", "CAROL", "--password-stdin"],
        Some("pw-secret-9\n"),
    );
    assert_eq!(dup.status.code(), Some(1));
    assert!(text(&dup.stderr).contains("already exists"));
    let bad_env = vec![("OTPGATE_LISTEN".to_owned(), "not-an-address".to_owned())];
    let out = cli_in(dir.path(), &bad_env, &["serve"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );
    let help = cli_in(dir.path(), &env, &["--help"], None);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("serve"));
}

/// Issue 15 finding 8: names that render like an existing `victim` are
/// either `victim` itself (NFKC: fullwidth, circled) or refused; each
/// `user add` exits 1 with one line, and no second account appears.
#[test]
fn user_add_refuses_every_look_alike_of_an_existing_victim() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    let add = |name: &str| {
        cli_in(
            dir.path(),
            &env,
            &["user", "add", name, "--password-stdin"],
            Some("Victim-Passw0rd\n"),
        )
    };
    // Only serve and migrate create a store.
    assert!(
        cli_in(dir.path(), &env, &["migrate"], None)
            .status
            .success()
    );
    assert!(add("victim").status.success());
    for (name, why) in [
        (
            "\u{ff56}\u{ff49}\u{ff43}\u{ff54}\u{ff49}\u{ff4d}",
            "already exists",
        ), // fullwidth
        ("\u{24e5}ictim", "already exists"),        // circled v
        ("v\u{131}ctim", "invalid username"),       // dotless i
        ("v\u{456}ct\u{456}m", "invalid username"), // Cyrillic і
        ("victim\u{200B}", "invalid username"),     // zero-width space
    ] {
        let out = add(name);
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{name:?}: {err:?}");
        assert!(err.contains(why), "{name:?}: {err:?}");
    }
    let list = cli_in(dir.path(), &env, &["user", "list", "--json"], None);
    let names: Vec<String> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["username"].to_string())
        .collect();
    assert_eq!(names, ["\"victim\""], "one account");
}

#[test]
fn config_check_prints_the_effective_settings() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "OTPGATE_DATABASE_URL".to_owned(),
            "postgres://otp:hunter2@db.example:5432/otpgate".to_owned(),
        ),
        ("OTPGATE_RATE_LIMIT_AVERAGE".to_owned(), "50".to_owned()),
    ];
    let out = cli_in(dir.path(), &env, &["config", "check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rate_limit.average: 50 req/s\n"),
        "{stdout}"
    );
    assert!(stdout.contains("postgres://otp:***@db.example:5432/otpgate"));
    assert!(!stdout.contains("hunter2"));
    assert!(stdout.contains("auth.backend: local\n"), "{stdout}");
    // The NethCTI middleware's V1 variables make the CTI server the
    // password authority (API.md §9).
    let env = vec![
        (
            "NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT".to_owned(),
            "127.0.0.1:8179".to_owned(),
        ),
        (
            "NETHVOICE_MIDDLEWARE_V1_API_PATH".to_owned(),
            "/webrest".to_owned(),
        ),
    ];
    let out = cli_in(dir.path(), &env, &["config", "check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("auth.backend: nethcti\n")
            && stdout.contains("nethcti.url: http://127.0.0.1:8179/webrest\n")
            && stdout.contains("nethcti.timeout_ms: 10000\n"),
        "{stdout}"
    );
}

#[test]
fn commands_other_than_serve_and_migrate_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    for args in [
        vec!["user", "list"],
        vec!["user", "add", "alice", "--password-stdin"],
        vec!["app", "list"],
        vec!["audit"],
        vec!["token", "revoke-all", "alice"],
        vec!["token", "list", "alice"],
    ] {
        let out = cli_in(dir.path(), &env, &args, Some("Correct-Horse-7\n"));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        let expected = format!(
            "no otpgate store at {}; run from the server's directory or set OTPGATE_DATA_DIR / --config",
            dir.path().join("otpgate-data").display()
        );
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} created nothing"
        );
    }
    // `config check` says so, and creates nothing either.
    let out = cli_in(dir.path(), &env, &["config", "check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("(not created yet"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // `migrate` creates it; then the same commands work on it and say which
    // store they used.
    let out = cli_in(dir.path(), &env, &["migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli_in(dir.path(), &env, &["user", "list"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = dir.path().join("otpgate-data/otpgate.db");
    assert!(
        text(&out.stdout).starts_with(&format!("store: {} (SQLite", db.display())),
        "{}",
        text(&out.stdout)
    );
    let out = cli_in(dir.path(), &env, &["user", "list", "--json"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).is_empty(), "stdout stays JSON lines");
    assert!(text(&out.stderr).contains(&format!("store: {}", db.display())));
    let out = cli_in(dir.path(), &env, &["config", "check"], None);
    assert!(
        text(&out.stdout).contains(&format!("store: {} (SQLite", db.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("(exists)"));
}

#[test]
fn a_busy_port_creates_no_first_user_and_the_next_start_prints_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let env = vec![("OTPGATE_LISTEN".to_owned(), format!("127.0.0.1:{port}"))];
    let out = cli_in(dir.path(), &env, &["serve"], None);
    assert_eq!(out.status.code(), Some(1), "a busy port fails the start");
    assert!(
        text(&out.stderr).contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("Password"),
        "no password printed for a server that did not start: {}",
        text(&out.stdout)
    );
    let list = cli_in(dir.path(), &[], &["user", "list", "--json"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert_eq!(text(&list.stdout), "", "no admin was created");
    drop(busy);

    let server = Server::start(dir.path(), &[]);
    let line = server
        .stdout_line("Password (shown only this once): ", Duration::from_secs(5))
        .expect("the next start creates admin and prints its password");
    let pw = line.rsplit(' ').next().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (s, _) = rt.block_on(Http::new().try_login(&server.base, "admin", pw));
    assert_eq!(s, 200, "the printed password is admin's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_2fa_clears_a_pending_enrolment_and_records_only_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    server.add_user("dora", "Dora-Passw0rd");
    let (_, body) = http.try_login(&server.base, "dora", "Dora-Passw0rd").await;
    let token = body["token"].as_str().unwrap().to_owned();

    // Nothing to reset: nothing changes, nothing is recorded.
    let out = server.cli(&["user", "reset-2fa", "dora"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing changed"));

    // A pending enrolment is forgotten: the next enrolment gets a new key.
    let (s, first) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200, "{first}");
    let out = server.cli(&["user", "reset-2fa", "dora"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the pending enrolment was cleared"),
        "{}",
        text(&out.stdout)
    );
    let (s, second) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200, "the token still works: 2FA was never on");
    assert_ne!(first["data"]["key"], second["data"]["key"]);

    let audit = server.cli(&["audit", "--user", "dora", "--json"], None);
    assert!(audit.status.success(), "{}", text(&audit.stderr));
    let events: Vec<String> = text(&audit.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
        .collect();
    assert!(
        !events.iter().any(|e| e.contains("2fa_disabled")),
        "no 2fa_disabled for a user whose 2FA was never on: {events:?}"
    );
}

#[test]
fn user_set_changes_only_the_fields_given() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    assert!(
        cli_in(dir.path(), &env, &["migrate"], None)
            .status
            .success()
    );
    let out = cli_in(
        dir.path(),
        &env,
        &[
            "user",
            "add",
            "alice",
            "--email",
            "a@example.org",
            "--phone",
            "+3912",
            "--password-stdin",
        ],
        Some("Alice-Passw0rd\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli_in(
        dir.path(),
        &env,
        &[
            "user",
            "set",
            "ALICE",
            "--phone",
            "+39 555 0100",
            "--display-name",
            "Alice A.",
            "--role",
            "operator",
            "--external-id",
            "crm-7",
            "--clear-email",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = cli_in(dir.path(), &env, &["user", "show", "alice", "--json"], None);
    let u: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(u["phone"], "+39 555 0100");
    assert_eq!(u["display_name"], "Alice A.");
    assert_eq!(u["role"], "operator");
    assert_eq!(u["external_id"], "crm-7");
    assert_eq!(u["email"], serde_json::Value::Null);
    let out = cli_in(
        dir.path(),
        &env,
        &["user", "set", "alice", "--email", "new@example.org"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = cli_in(dir.path(), &env, &["user", "show", "alice", "--json"], None);
    let u: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(u["email"], "new@example.org");
    assert_eq!(u["phone"], "+39 555 0100", "left alone");
    for (args, needle) in [
        (vec!["user", "set", "alice"], "nothing to change"),
        (
            vec!["user", "set", "alice", "--role", " "],
            "role must not be empty",
        ),
        (
            vec!["user", "set", "nobody", "--role", "x"],
            "user not found",
        ),
        (
            vec!["user", "set", "alice", "--email", "x@y", "--clear-email"],
            "cannot be used with",
        ),
    ] {
        let out = cli_in(dir.path(), &env, &args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn weak_passwords_are_refused_by_user_add_and_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    assert!(
        cli_in(dir.path(), &env, &["migrate"], None)
            .status
            .success()
    );
    for (pw, needle) in [
        ("a\n", "at least 8 characters"),
        ("Passw0rd\n", "too common"),
        ("iloveyou\n", "too common"),
    ] {
        let out = cli_in(
            dir.path(),
            &env,
            &["user", "add", "erin", "--password-stdin"],
            Some(pw),
        );
        assert_eq!(out.status.code(), Some(1), "{pw:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{pw:?}: {}",
            text(&out.stderr)
        );
    }
    let out = cli_in(
        dir.path(),
        &env,
        &["user", "add", "erin", "--password-stdin"],
        Some("Erin-Passw0rd\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli_in(
        dir.path(),
        &env,
        &["user", "passwd", "erin", "--password-stdin"],
        Some("1234567\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at least 8 characters"));
    // The length is a setting.
    let longer = vec![("OTPGATE_PASSWORD_MIN_LENGTH".to_owned(), "16".to_owned())];
    let out = cli_in(
        dir.path(),
        &longer,
        &["user", "passwd", "erin", "--password-stdin"],
        Some("Erin-Passw0rd-2\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at least 16 characters"));
    // A generated password is random and always accepted.
    let out = cli_in(dir.path(), &longer, &["user", "passwd", "erin"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_database_this_user_cannot_write_is_named_with_the_likely_cause() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = Vec::new();
    assert!(
        cli_in(dir.path(), &env, &["migrate"], None)
            .status
            .success()
    );
    let data = dir.path().join("otpgate-data");
    let db = data.join("otpgate.db");
    let chmod = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Readable by everyone, writable by nobody but the owner (and not
    // even by the owner for the database file).
    chmod(dir.path(), 0o755);
    chmod(&data, 0o755);
    for f in ["jwt.key", "secret.key"] {
        chmod(&data.join(f), 0o644);
    }
    chmod(&db, 0o444);
    let uid = text(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    );
    // root writes whatever the mode: run as nobody then, as an operator
    // who forgot `sudo -u otpgate` would.
    let out = if uid.trim() == "0" {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(crate::support::BIN)
            .args(["user", "list"])
            .current_dir(dir.path())
            .output()
            .expect("setpriv (util-linux)")
    } else {
        cli_in(dir.path(), &env, &["user", "list"], None)
    };
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot open the database {}", db.display())),
        "{err}"
    );
    assert!(err.contains("read-only for this user"), "{err}");
    assert!(!err.contains("code: 14"), "{err}");
}

/// `user require-2fa NAME yes|no|default` on the store a running server
/// uses: the server's next login follows it at once, and `user show` says
/// which rule applies and where it comes from (API.md §11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_2fa_overrides_the_setting_both_ways_and_user_show_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    server.add_user("carol", "pw-secret-9");
    let login = || async {
        let (s, body) = http.try_login(&server.base, "carol", "pw-secret-9").await;
        assert_eq!(s, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let show = || {
        let out = server.cli(&["user", "show", "carol", "--json"], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let u = show();
    assert_eq!(
        (&u["two_factor_required"], &u["two_factor_required_by"]),
        (&json!(false), &json!("setting")),
        "{u}"
    );

    let out = server.cli(&["user", "require-2fa", "Carol", "yes"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("yes (per-user override"),
        "{}",
        text(&out.stdout)
    );
    let u = show();
    assert_eq!(
        (&u["two_factor_required"], &u["two_factor_required_by"]),
        (&json!(true), &json!("user")),
        "{u}"
    );
    let plain = server.cli(&["user", "show", "carol"], None);
    assert!(
        text(&plain.stdout).contains("two_factor_required: yes (per-user override"),
        "{}",
        text(&plain.stdout)
    );
    let token = login().await;
    let (s, body) = http.me(&server.base, &token).await;
    assert_eq!((s, &body["message"]), (403, &json!("2fa_setup_required")));
    let (s, body) = http.get(&server.url("/api/2fa/status"), &token).await;
    assert_eq!((s, body), (200, json!({"status": false, "required": true})));

    let out = server.cli(&["user", "require-2fa", "carol", "default"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no (setting two_factor.required)"),
        "{}",
        text(&out.stdout)
    );
    let (s, _) = http.me(&server.base, &login().await).await;
    assert_eq!(s, 200);

    for bad in [
        vec!["user", "require-2fa", "carol", "maybe"],
        vec!["user", "require-2fa", "nobody", "yes"],
    ] {
        let out = server.cli(&bad, None);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
    }

    // With the setting on, `no` exempts the user.
    drop(server);
    let server = Server::start(dir.path(), &[("OTPGATE_TWO_FACTOR_REQUIRED", "true")]);
    let out = server.cli(&["user", "show", "carol"], None);
    assert!(
        text(&out.stdout).contains("two_factor_required: yes (setting two_factor.required)"),
        "{}",
        text(&out.stdout)
    );
    let out = server.cli(&["user", "require-2fa", "carol", "no"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (s, body) = http.try_login(&server.base, "carol", "pw-secret-9").await;
    assert_eq!(s, 200);
    let (s, _) = http.me(&server.base, body["token"].as_str().unwrap()).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_shows_live_persistent_tokens_and_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    server.add_user("alice", "pw-secret-9");
    let (s, body) = http.try_login(&server.base, "alice", "pw-secret-9").await;
    assert_eq!(s, 200, "{body}");
    let login = body["token"].as_str().unwrap().to_owned();

    let list = server.cli(&["token", "list", "alice"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let out = text(&list.stdout);
    assert!(out.contains("alice has no live persistent token"), "{out}");
    assert!(out.contains("login tokens are not stored"), "{out}");

    let mut minted = Vec::new();
    for audience in ["phone-island", "nethlink"] {
        let (s, body) = http
            .post(
                &server.url(&format!("/api/tokens/persistent/{audience}")),
                Some(&login),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        minted.push(body["token"].as_str().unwrap().to_owned());
    }
    let list = server.cli(&["token", "list", "ALICE"], None);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let out = text(&list.stdout);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("phone-island") || l.starts_with("nethlink"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "audience, issued, expires: {row}");
        assert!(cols[1].ends_with('Z') && cols[2].ends_with('Z'), "{row}");
        assert!(cols[2] > cols[1], "{row}");
    }
    for t in &minted {
        assert!(!out.contains(t.as_str()), "never the token");
        let sig = t.rsplit('.').next().unwrap();
        assert!(!out.contains(sig), "not even its signature");
    }

    // revoke-all ends them: the list is empty again.
    assert!(
        server
            .cli(&["token", "revoke-all", "alice"], None)
            .status
            .success()
    );
    let out = text(&server.cli(&["token", "list", "alice"], None).stdout);
    assert!(out.contains("alice has no live persistent token"), "{out}");
    let (s, _) = http.me(&server.base, &minted[0]).await;
    assert_eq!(s, 401);

    // An unknown user: exit 1, one line on stderr.
    let nobody = server.cli(&["token", "list", "nobody"], None);
    assert_eq!(nobody.status.code(), Some(1));
    assert_eq!(text(&nobody.stderr).trim().lines().count(), 1);
}
