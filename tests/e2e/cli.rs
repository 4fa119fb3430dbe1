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
    let (s, body) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": "bob", "password": pw}),
        )
        .await;
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
    let show = server.cli(&["user", "show", "BOB"], None);
    assert!(text(&show.stdout).contains("email: bob@example.org"));

    let revoke = server.cli(&["token", "revoke-all", "bob"], None);
    assert!(revoke.status.success());
    let (s, _) = http.get(&server.url("/api/user/me"), &token).await;
    assert_eq!(
        s, 401,
        "revoke-all from the CLI is seen by the running server"
    );

    let passwd = server.cli(
        &["user", "passwd", "bob", "--password-stdin"],
        Some("N3w-pass\n"),
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    let (s, _) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": "bob", "password": pw}),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": "bob", "password": "N3w-pass"}),
        )
        .await;
    assert_eq!(s, 200);

    let reset = server.cli(&["user", "reset-2fa", "bob"], None);
    assert!(reset.status.success());
    assert!(text(&reset.stdout).contains("was not on"));

    let del = server.cli(&["user", "del", "bob"], None);
    assert!(del.status.success());
    let (s, _) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": "bob", "password": "N3w-pass"}),
        )
        .await;
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
        let out = cli_in(dir.path(), &env, &args, Some("pw\n"));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
    }
    let dup = cli_in(
        dir.path(),
        &env,
        &["user", "add", "carol", "--password-stdin"],
        Some("pw\n"),
    );
    assert!(dup.status.success());
    let dup = cli_in(
        dir.path(),
        &env,
        &["user", "add", "CAROL", "--password-stdin"],
        Some("pw\n"),
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
    assert!(stdout.contains("rate_limit: 50 req/s"));
    assert!(stdout.contains("postgres://otp:***@db.example:5432/otpgate"));
    assert!(!stdout.contains("hunter2"));
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
    let (s, _) = rt.block_on(Http::new().post(
        &server.url("/api/login"),
        None,
        json!({"username": "admin", "password": pw}),
    ));
    assert_eq!(s, 200, "the printed password is admin's");
}
