//! Durability and files: what was answered 200 survives SIGKILL; keys and
//! database files are private.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::{Http, Server, have_tool, now_secs, oathtool_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_answered_200_survives_sigkill_and_restart() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    server.cli(
        &["user", "add", "dave", "--password-stdin"],
        Some("pw-dave-secret\n"),
    );
    let (_, body) = http.try_login(&server.base, "dave", "pw-dave-secret").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, qr) = http.qr_code(&server.base, &token).await;
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let t0 = now_secs();
    let (s, v) = http
        .verify_otp(&server.base, &token, "dave", &oathtool_code(&key, t0))
        .await;
    assert_eq!(s, 200);
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let (_, body) = http.try_login(&server.base, "dave", "pw-dave-secret").await;
    let logged_out = body["token"].as_str().unwrap().to_owned();
    let (s, _) = http.logout(&server.base, &logged_out).await;
    assert_eq!(s, 200);
    server.kill();

    let server = Server::start(dir.path(), &[]);
    // Printed before the port opens: a second of reading is plenty.
    assert_eq!(
        server.stdout_line("Password", Duration::from_secs(1)),
        None,
        "no second admin on restart"
    );
    let (s, st) = http.get(&server.url("/api/2fa/status"), &verified).await;
    assert_eq!((s, st["status"].as_bool()), (200, Some(true)));
    let (s, _) = http.me(&server.base, &logged_out).await;
    assert_eq!(s, 401, "the logout survived");
    let (_, body) = http.try_login(&server.base, "dave", "pw-dave-secret").await;
    let pre = body["token"].as_str().unwrap().to_owned();
    let (s, _) = http
        .verify_otp(&server.base, &pre, "dave", &oathtool_code(&key, t0))
        .await;
    assert_eq!(s, 400, "the used step survived the crash too");
}

#[test]
fn key_files_and_database_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let data = dir.path().join("otpgate-data");
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in ["jwt.key", "secret.key", "otpgate.db"] {
        let mode = std::fs::metadata(data.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    drop(server);
}
