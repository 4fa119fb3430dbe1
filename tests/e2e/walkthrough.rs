//! The README's walkthrough, run for real: start the server, create a user
//! with the CLI, log in, enrol from the QR code, log in through the 2FA
//! step with codes from oathtool, use a recovery code, disable 2FA.

use std::time::Duration;

use serde_json::json;

use crate::support::{Http, Server, have_tool, now_secs, oathtool_code, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_with_oathtool_and_zbarimg() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    // First start: an admin with a random password, printed once.
    let admin_line = server
        .stdout_line("Password", Duration::from_secs(10))
        .expect("admin password printed");
    let admin_pw = admin_line.rsplit(' ').next().unwrap().to_owned();
    let http = Http::new();
    let (s, _) = http.try_login(&server.base, "admin", &admin_pw).await;
    assert_eq!(s, 200, "the printed admin password works");

    // The CLI works against the running server's store.
    let out = server.cli(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.org",
            "--password-stdin",
        ],
        Some("S3cret-Alice\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (s, body) = http.try_login(&server.base, "alice", "S3cret-Alice").await;
    assert_eq!(s, 200);
    let token = body["token"].as_str().unwrap().to_owned();

    let (s, qr) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200);
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let url = qr["data"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("otpauth://totp/otpgate:alice?secret="));

    // The PNG decodes to the same otpauth URL (a real QR reader).
    if have_tool("zbarimg", "apt-get install zbar-tools") {
        let (s, png) = http
            .get_bytes(&server.url("/api/2fa/qr-code.png"), &token)
            .await;
        assert_eq!(s, 200);
        let file = dir.path().join("qr.png");
        std::fs::write(&file, png).unwrap();
        let out = std::process::Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            text(&out.stdout).trim(),
            url,
            "zbarimg decodes the QR to the otpauth URL"
        );
    }

    // Enrol: confirm with a code computed by oathtool.
    let t0 = now_secs();
    let (s, v) = http
        .verify_otp(&server.base, &token, "alice", &oathtool_code(&key, t0))
        .await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let (s, st) = http.get(&server.url("/api/2fa/status"), &verified).await;
    assert_eq!((s, st["status"].as_bool()), (200, Some(true)));

    // Recovery codes need the password.
    let (s, rc) = http
        .new_recovery_codes(&server.base, &verified, "S3cret-Alice")
        .await;
    assert_eq!(s, 200);
    let codes = Http::recovery_codes_in(&rc);
    assert_eq!(codes.len(), 5);

    // Log in again: a pre-OTP token, refused everywhere but the 2FA step.
    let (_, body) = http.try_login(&server.base, "alice", "S3cret-Alice").await;
    let pre = body["token"].as_str().unwrap().to_owned();
    let (s, e) = http.me(&server.base, &pre).await;
    assert_eq!(
        (s, e["message"].as_str()),
        (403, Some("otp_verification_required"))
    );
    // The enrolment code is spent; the next step's code (accepted within
    // the window) is not.
    let (s, _) = http
        .verify_otp(&server.base, &pre, "alice", &oathtool_code(&key, t0))
        .await;
    assert_eq!(s, 400, "a code is accepted once");
    let (s, v) = http
        .verify_otp(&server.base, &pre, "alice", &oathtool_code(&key, t0 + 30))
        .await;
    assert_eq!(s, 200, "{v}");
    let full = v["data"]["token"].as_str().unwrap().to_owned();
    let (s, me) = http.me(&server.base, &full).await;
    assert_eq!(
        (s, me["username"].as_str(), me["two_factor"].as_bool()),
        (200, Some("alice"), Some(true))
    );

    // Lost phone: a recovery code instead.
    let (_, body) = http.try_login(&server.base, "alice", "S3cret-Alice").await;
    let pre = body["token"].as_str().unwrap().to_owned();
    let (s, v) = http
        .verify_otp(&server.base, &pre, "alice", &codes[0])
        .await;
    assert_eq!(s, 200, "{v}");
    let rescued = v["data"]["token"].as_str().unwrap().to_owned();

    // Disable 2FA: every token is revoked.
    let (s, _) = http
        .post(
            &server.url("/api/2fa/disable"),
            Some(&rescued),
            json!({"username": "alice", "password": "S3cret-Alice"}),
        )
        .await;
    assert_eq!(s, 200);
    for t in [&full, &rescued] {
        let (s, e) = http.me(&server.base, t).await;
        assert_eq!((s, e["message"].as_str()), (401, Some("token_revoked")));
    }
    let (_, body) = http.try_login(&server.base, "alice", "S3cret-Alice").await;
    let plain = body["token"].as_str().unwrap().to_owned();
    let (s, _) = http.me(&server.base, &plain).await;
    assert_eq!(s, 200, "without 2FA the login token opens everything again");
}
