#!/usr/bin/env bash
# tests/crash/run.sh [KILLS]: the full crash-safety campaign (issue 8 item 3).
# Runs the mixed load of tests/e2e/crash.rs (logins, enrolments, TOTP
# verifications, recovery-code regeneration and use, logouts, 2FA disable)
# against the real binary, SIGKILLs it at random moments KILLS times
# (default 25) and restarts it, on SQLite and on PostgreSQL, and checks from
# the clients' own records that every change answered 200 is still there and
# that no single-use secret was accepted twice. Prints one figures line per
# backend ("crash: ... violations=0"); exits non-zero on any violation.
# PostgreSQL: OTPGATE_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
kills=${1:-25}
export OTPGATE_CRASH_KILLS=$kills
export OTPGATE_TEST_PG_URL="${OTPGATE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export OTPGATE_REQUIRE_PG=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --test e2e crash::crash_sigkill_under_load -- --nocapture --test-threads=1 >"$log" 2>&1 || status=$?
grep -E '^crash: |^test crash::|test result' "$log" || true
if [ "$status" -ne 0 ]; then
  tail -60 "$log"
  exit "$status"
fi
