//! The summary of skipped checks, at the end of `cargo test`.
//!
//! End-to-end tests whose outside tool is missing (oathtool, node,
//! chromium, aiosmtpd, PostgreSQL...) pass without running their checks,
//! so the harness's "passed" counts them. Each such test adds a line to
//! `target/tmp/skipped-checks.txt` (tests/e2e/support.rs `skipped`, and
//! the PostgreSQL half of the store contract). This target is the last
//! one `cargo test` runs (cargo runs the packages in name order, and
//! otpgate-store comes last), so it prints what did not run and what to
//! install, then empties the list. CI sets OTPGATE_REQUIRE_E2E=1 and
//! OTPGATE_REQUIRE_PG=1, where nothing is skipped. docs/testing.md.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[test]
fn skipped_checks_are_listed_with_what_to_install() {
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-checks.txt");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let _ = std::fs::remove_file(&file);
    // One line per test and reason.
    let mut lines: BTreeMap<&str, ()> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines.insert(line, ());
    }
    if lines.is_empty() {
        return;
    }
    // Straight to the stderr handle: the harness captures eprintln!.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\nSKIPPED CHECKS: {} test(s) above passed WITHOUT running their checks \
         (a tool or PostgreSQL is missing; `.ci/run` installs everything and fails instead of skipping):",
        lines.len()
    );
    for line in lines.keys() {
        let _ = writeln!(err, "  SKIPPED {line}");
    }
    let _ = writeln!(err);
}
