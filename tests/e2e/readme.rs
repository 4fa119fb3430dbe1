//! The README is tested: the shell blocks of its walkthrough and of
//! "Calling otpgate from an application", taken from README.md itself (so
//! an edited README is what runs), run in order by bash against the real
//! binary. `localhost:8080` becomes the test server's address and
//! `otpgate` the binary under test, run in the server's directory as the
//! README says; nothing else is changed.

use std::path::Path;
use std::process::Command;

use crate::support::{BIN, Server, have_tool, text};

/// The text of the `## heading` section (up to the next `## `).
pub(crate) fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has a section {heading:?}"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The ```sh blocks of `text`, in order.
pub(crate) fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), l) => lines.push(l),
            (None, _) => {}
        }
    }
    blocks
}

/// Runs README shell text as written with bash in `dir` (`set -euo
/// pipefail`, `otpgate` being the binary under test); panics with the
/// script and its output unless it succeeds. Returns its stdout and that
/// context, for the callers' own checks.
pub(crate) fn run_as_written(dir: &Path, readme_text: &str) -> (String, String) {
    let script = format!("set -euo pipefail\notpgate() {{ \"{BIN}\" \"$@\"; }}\n{readme_text}\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("OTPGATE_LOG", "warn")
        .output()
        .expect("run bash");
    let stdout = text(&out.stdout);
    let context = format!(
        "script:\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(out.status.success(), "{context}");
    (stdout, context)
}

#[test]
fn the_readme_walkthrough_and_application_examples_run_as_written() {
    if !have_tool("jq", "apt-get install jq")
        || !have_tool("oathtool", "apt-get install oathtool")
        || !have_tool("curl", "apt-get install curl")
    {
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut blocks = sh_blocks(section(
        &readme,
        "Walkthrough: a user with two-factor authentication",
    ));
    let walkthrough = blocks.len();
    blocks.extend(sh_blocks(section(
        &readme,
        "Calling otpgate from an application",
    )));
    assert!(walkthrough >= 7, "the walkthrough's blocks were found");
    assert!(
        blocks.len() >= walkthrough + 5,
        "and the applications' ones"
    );

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut script = String::new();
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '### README block {}'\n", i + 1));
        script.push_str(&block.replace("localhost:8080", &addr));
        script.push('\n');
    }
    // What the blocks captured, for the checks below (after a newline:
    // curl prints none after a JSON answer).
    script.push_str(
        "echo\nfor v in TOKEN SECRET VERIFIED PRE FULL KEY CODE SESSION; do echo \"$v=${!v}\"; done\n",
    );
    let (stdout, context) = run_as_written(dir.path(), &script);
    for var in [
        "TOKEN", "SECRET", "VERIFIED", "PRE", "FULL", "KEY", "CODE", "SESSION",
    ] {
        let value = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .unwrap_or("");
        assert!(
            !value.is_empty() && value != "null",
            "{var} was captured: {value:?}\n{context}"
        );
    }
    for expected in [
        "created user alice",
        r#""codes":["#,
        r#""message":"otp_verification_required""#,
        "verify an OTP with POST /api/2fa/verify-otp first",
        r#""two_factor":true"#,
        r#""role":"user""#,
        r#""message":"2FA disabled; all sessions invalidated, please log in again""#,
        "revoked application billing",
        // Single Connect: otpstatus's `true`, then otpvalid's status.
        "\ntrue200\n",
        // Capillary: the validated session, used up, and its token.
        r#""status":{"code":200,"message":"SUCCESS","success":true},"user":{"appRegistered":false,"role":"user","sessionId":null"#,
        r#"{"auth":{"key":""#,
        r#"{"message":"2FA enabled successfully"}"#,
    ] {
        assert!(stdout.contains(expected), "{expected:?} printed\n{context}");
    }
}
