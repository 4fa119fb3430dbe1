//! The generated bad-input campaign (issue 8 item 2): schemathesis, from
//! PyPI, reads the running binary's own `/api/openapi.json` and sends
//! generated valid and invalid requests to every operation, without a
//! credential and with a valid bearer token, through
//! `tests/schemathesis/run.sh`. It must find no 5xx, no answer that breaks
//! its schema and no undocumented status, over at least 10,000 requests.

use std::path::Path;
use std::process::Command;

use crate::support::{Http, Server, have_tool, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    if !have_tool("schemathesis", "python3 -m pip install schemathesis") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("OTPGATE_RATE_LIMIT_AVERAGE", "0")]);
    server.add_user("fuzzer", "campaign-password-1");
    let (status, body) = Http::new()
        .try_login(&server.base, "fuzzer", "campaign-password-1")
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let out = Command::new("bash")
        .arg(root.join("tests/schemathesis/run.sh"))
        .env("OTPGATE_URL", server.url(""))
        .env("OTPGATE_TOKEN", &token)
        .env("ST_REPORT_DIR", &report_dir)
        .output()
        .expect("run tests/schemathesis/run.sh");
    let stdout = text(&out.stdout);
    println!("{stdout}{}", text(&out.stderr));
    assert!(
        out.status.success(),
        "schemathesis found failures (reports in {}):\n{stdout}",
        report_dir.display()
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("schemathesis: "))
        .expect("summary line");
    let requests: u64 = summary
        .trim_start_matches("schemathesis: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        requests >= 10_000,
        "at least 10,000 requests across all routes, got {requests}"
    );
    assert!(summary.ends_with(" 0 failures"), "{summary}");
    // The token stayed valid through the run (logout is excluded), so the
    // second campaign really ran authenticated.
    let (status, _) = Http::new()
        .get(&server.url("/api/2fa/status"), &token)
        .await;
    assert_eq!(status, 200);
}
