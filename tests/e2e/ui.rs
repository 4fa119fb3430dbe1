//! The self-service page in a real browser: the real binary, a user made
//! with the CLI, and `tests/browser/ui.spec.js` (npm playwright-core
//! driving Debian's Chromium) doing the whole enrolment as a user would,
//! with TOTP codes it computes itself. Screenshots of every step land in
//! `<cargo target dir>/ui-screenshots/` (CI keeps them as artifacts). The
//! API reference page (`/api/docs/`, `tests/browser/docs.spec.js`) is
//! checked there too, offline.
//!
//! Needs `node`, `tests/browser/node_modules` (`npm ci` there) and
//! `/usr/bin/chromium` (`apt-get install chromium`); skips without them
//! unless OTPGATE_REQUIRE_E2E=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{BIN, Server, have_tool, text};

const USER: &str = "alice";
const PASSWORD: &str = "S3cret-Alice";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `<target>/ui-screenshots[/sub]`: next to the binary under test, so it
/// follows CARGO_TARGET_DIR (plain `target/` in CI).
fn screenshots_dir(sub: &str) -> PathBuf {
    let target = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in <target>/<profile>/");
    let dir = target.join("ui-screenshots");
    if sub.is_empty() { dir } else { dir.join(sub) }
}

/// Whether node, playwright-core and Chromium are all there; prints the
/// skip line (or fails under OTPGATE_REQUIRE_E2E=1) when one is missing.
fn have_browser() -> bool {
    if !have_tool("node", "apt-get install nodejs npm")
        || !have_tool("/usr/bin/chromium", "apt-get install chromium")
    {
        return false;
    }
    let installed = browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file();
    if !installed {
        let how = "(cd tests/browser && npm ci)";
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("playwright-core is required (OTPGATE_REQUIRE_E2E=1); install it with: {how}");
        }
        crate::support::skipped(&format!("playwright-core not installed; run `{how}`"));
    }
    installed
}

/// Starts the binary with `env`, adds the user with the CLI, runs the
/// browser script and returns its summary.
fn run_in_browser(env: &[(&str, &str)], api_prefix: &str, shots: &Path) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), env);
    let out = server.cli(
        &["user", "add", USER, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = Command::new("node")
        .arg(browser_dir().join("ui.spec.js"))
        .args([&server.base, USER, PASSWORD])
        .arg(shots)
        .arg(api_prefix)
        .current_dir(browser_dir())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser run failed (screenshots in {}):\n{}\n{}",
        shots.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");

    // What the browser did is what the store holds: 2FA is off at the end.
    let out = server.cli(&["user", "show", USER, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["two_factor"], "off", "{user}");
    summary
}

#[test]
fn the_whole_enrolment_in_chromium_with_a_screenshot_of_each_step() {
    if !have_browser() {
        return;
    }
    let shots = screenshots_dir("");
    let summary = run_in_browser(&[], "/api", &shots);

    // A screenshot of every step, each a real PNG.
    let names: Vec<&str> = summary["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for step in [
        "login",
        "login-wrong-password",
        "account-2fa-off",
        "enrol-qr-and-key",
        "enrol-wrong-code",
        "account-2fa-on",
        "recovery-codes",
        "logged-out",
        "otp-step",
        "account-after-otp",
        "recovery-codes-regenerated",
        "2fa-disabled",
        "account-2fa-off-again",
        "logged-out-again",
    ] {
        let name = names
            .iter()
            .find(|n| n.ends_with(&format!("-{step}.png")) && n.len() == step.len() + 7)
            .unwrap_or_else(|| panic!("a screenshot of {step}: {names:?}"));
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    }

    // The downloaded file holds the codes the page showed.
    let download = std::fs::read_to_string(summary["download"].as_str().unwrap()).unwrap();
    let codes = summary["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 5);
    for c in codes {
        assert!(download.contains(c.as_str().unwrap()), "{download}");
    }

    // The QR image as the browser drew it scans to the key the page showed.
    if have_tool("zbarimg", "apt-get install zbar-tools") {
        let name = names
            .iter()
            .find(|n| n.ends_with("-enrol-qr-and-key.png"))
            .unwrap();
        let out = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(shots.join(name))
            .output()
            .unwrap();
        let url = text(&out.stdout);
        let key = summary["key"].as_str().unwrap();
        assert!(
            url.trim()
                .starts_with(&format!("otpauth://totp/otpgate:{USER}?secret={key}&")),
            "the screenshot's QR code reads {url:?}"
        );
    }
}

#[test]
fn the_page_follows_a_configured_api_prefix() {
    if !have_browser() {
        return;
    }
    // Any call the page made to /api would be a 404, which fails the run.
    let shots = screenshots_dir("api-prefix");
    let summary = run_in_browser(&[("OTPGATE_API_PREFIX", "/auth/v1")], "/auth/v1", &shots);
    assert_eq!(summary["codes"].as_array().unwrap().len(), 5);
}

/// Mandatory 2FA (API.md §11) in the browser: with `two_factor.required`
/// on, the password leads a user without 2FA through the QR code, the
/// first code and the recovery codes before the account view
/// (`tests/browser/enrol.spec.js`), a screenshot per step.
#[test]
fn the_mandatory_enrolment_at_first_login_in_chromium_with_a_screenshot_of_each_step() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("OTPGATE_TWO_FACTOR_REQUIRED", "true")]);
    let out = server.cli(
        &["user", "add", USER, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shots = screenshots_dir("mandatory-2fa");
    let out = Command::new("node")
        .arg(browser_dir().join("enrol.spec.js"))
        .args([&server.base, USER, PASSWORD])
        .arg(&shots)
        .current_dir(browser_dir())
        .output()
        .expect("run node");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed (screenshots in {}):\n{stdout}\n{}",
        shots.display(),
        text(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON summary");
    assert_eq!(summary["ok"], true, "{summary}");
    let names: Vec<&str> = summary["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for step in [
        "login",
        "setup-qr-and-key",
        "setup-codes-step",
        "setup-recovery-codes",
        "setup-account",
        "next-login-otp-step",
        "next-login-account",
    ] {
        let name = names
            .iter()
            .find(|n| n.ends_with(&format!("-{step}.png")) && n.len() == step.len() + 7)
            .unwrap_or_else(|| panic!("a screenshot of {step}: {names:?}"));
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    }
    assert_eq!(summary["codes"].as_array().map(Vec::len), Some(5));

    // The store agrees: 2FA on, required by the setting.
    let out = server.cli(&["user", "show", USER, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["two_factor"], "on", "{user}");
    assert_eq!(user["two_factor_required"], true, "{user}");
    assert_eq!(user["two_factor_required_by"], "setting", "{user}");
}

/// The API reference page (Swagger UI, embedded) renders every operation
/// of the document in Chromium with every request to another origin
/// aborted (offline) and no console error: its CSP allows what it needs.
#[test]
fn the_api_reference_page_works_offline_in_chromium() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let shots = screenshots_dir("api-docs");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(browser_dir().join("docs.spec.js"))
        .arg(&server.base)
        .arg(&shots)
        .current_dir(browser_dir())
        .output()
        .expect("run node");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the API reference page failed in the browser:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["foreign"], serde_json::json!([]), "{summary}");
    // 33 operations of the document (logout included) at least.
    assert!(summary["operations"].as_u64().unwrap() >= 30, "{summary}");
    assert!(shots.join("docs.png").is_file());
}
