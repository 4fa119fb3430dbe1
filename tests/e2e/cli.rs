//! The CLI on the same store as a running server: users, passwords, 2FA
//! reset, mass revocation, exit codes and one-line errors.

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
    assert!(stdout.contains("rate_limit: 50 req/s"));
    assert!(stdout.contains("postgres://otp:***@db.example:5432/otpgate"));
    assert!(!stdout.contains("hunter2"));
}

/// `user require-2fa NAME yes|no|default` on the store a running server
/// uses: the server's next login follows it at once, and `user show` says
/// which rule applies and where it comes from (API.md §11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_2fa_overrides_the_setting_both_ways_and_user_show_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    let out = server.cli(&["user", "add", "carol", "--password-stdin"], Some("pw\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let login = || async {
        let (s, body) = http
            .post(
                &server.url("/api/login"),
                None,
                json!({"username": "carol", "password": "pw"}),
            )
            .await;
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
    let (s, body) = http.get(&server.url("/api/user/me"), &token).await;
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
    let (s, _) = http.get(&server.url("/api/user/me"), &login().await).await;
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
    let (s, body) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": "carol", "password": "pw"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = http
        .get(&server.url("/api/user/me"), body["token"].as_str().unwrap())
        .await;
    assert_eq!(s, 200);
}
