#!/usr/bin/env bash
# Generated bad-input campaign (issue 8 item 2): schemathesis reads the
# server's own OpenAPI document (/api/openapi.json) and sends generated
# valid and invalid requests to every operation, twice: once without a
# credential and once with a valid bearer token. Checks: no 5xx
# (not_a_server_error), every answer matches its schema
# (response_schema_conformance), every status is documented
# (status_code_conformance).
#
# Usage:
#   tests/schemathesis/run.sh                 # starts target/debug/otpgate itself
#   OTPGATE_URL=http://127.0.0.1:8080 OTPGATE_TOKEN=eyJ... tests/schemathesis/run.sh
#
# Tuning (the defaults keep a run around 2 minutes on 2 cores):
#   ST_MAX_EXAMPLES   test cases per operation and phase (default 1000)
#   ST_MAX_TIME       seconds per campaign; fuzzing repeats until they are
#                     spent (default 75)
#   ST_WORKERS        concurrent workers per campaign (default 4)
#   ST_REPORT_DIR     where the JUnit and NDJSON reports go
#                     (default target/schemathesis)
#   OTPGATE_BIN       the binary started in standalone mode
#                     (default target/debug/otpgate)
#
# Prints "schemathesis: <n> requests, <f> failures" and exits non-zero on
# any failure, or when fewer than ST_MIN_REQUESTS requests were sent. The server must run with its rate limit off
# (OTPGATE_RATE_LIMIT_AVERAGE=0), or 429s hide the routes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
max_examples="${ST_MAX_EXAMPLES:-1000}"
max_time="${ST_MAX_TIME:-75}"
workers="${ST_WORKERS:-4}"
prefix="${OTPGATE_API_PREFIX:-/api}"
prefix="${prefix%/}"
report_dir="${ST_REPORT_DIR:-$root/target/schemathesis}"
mkdir -p "$report_dir"
report_dir="$(cd "$report_dir" && pwd)"

cleanup() { :; }
trap 'cleanup' EXIT

url="${OTPGATE_URL:-}"
token="${OTPGATE_TOKEN:-}"
if [ -z "$url" ]; then
  bin="${OTPGATE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/otpgate}"
  [ -x "$bin" ] || { echo "run.sh: build first (cargo build), or set OTPGATE_BIN or OTPGATE_URL" >&2; exit 2; }
  work="$(mktemp -d)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  export OTPGATE_LISTEN="127.0.0.1:$port" OTPGATE_DATA_DIR="$work/data" OTPGATE_RATE_LIMIT_AVERAGE=0 OTPGATE_API_PREFIX="$prefix"
  "$bin" serve >"$work/server.log" 2>&1 &
  pid=$!
  cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  url="http://127.0.0.1:$port"
  echo 'campaign-password-1' | "$bin" user add fuzzer --password-stdin >/dev/null
  token="$(curl -fsS -X POST "$url$prefix/login" -H 'content-type: application/json' \
    -d '{"username":"fuzzer","password":"campaign-password-1"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
fi

total_requests=0
total_failures=0

# One campaign, run in the background: $1 = label, then extra arguments
# for schemathesis. Its exit status goes to $report_dir/$label.status.
campaign() {
  local label="$1"
  shift
  (
    # schemathesis keeps a cache in ./.schemathesis: keep it with the reports.
    cd "$report_dir"
    status=0
    schemathesis run "$url$prefix/openapi.json" \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance \
      --max-examples "$max_examples" \
      --max-time "$max_time" \
      --workers "$workers" \
      --phases examples,coverage,fuzzing \
      --suppress-health-check all \
      --generation-database none \
      --request-timeout 10 \
      --no-color \
      --report junit,ndjson \
      --report-junit-path "$report_dir/$label.xml" \
      --report-ndjson-path "$report_dir/$label.ndjson" \
      "$@" >"$report_dir/$label.log" 2>&1 || status=$?
    echo "$status" >"$report_dir/$label.status"
  ) &
  campaign_pids+=("$!")
}

# Adds up a finished campaign.
tally() {
  local label="$1" status requests failures
  status="$(cat "$report_dir/$label.status")"
  requests="$(python3 "$here/count.py" requests "$report_dir/$label.ndjson")"
  failures="$(python3 "$here/count.py" failures "$report_dir/$label.ndjson")"
  echo "schemathesis[$label]: $requests requests, $failures failures (exit $status)"
  if [ "$status" != 0 ]; then
    tail -n 80 "$report_dir/$label.log"
    total_failures=$((total_failures + (failures > 0 ? failures : 1)))
  fi
  total_requests=$((total_requests + requests))
}

# Rounds of both campaigns, side by side (schemathesis generates data in
# one Python process, so two processes use both cores), a new seed each
# round, until at least ST_MIN_REQUESTS requests have been sent (default
# 10000), at most ST_MAX_ROUNDS rounds (default 4): the request rate
# depends on the load of the machine.
min_requests="${ST_MIN_REQUESTS:-10000}"
max_rounds="${ST_MAX_ROUNDS:-4}"
round=1
while :; do
  campaign_pids=()
  seed=$((20261122 + round))
  campaign "anonymous-$round" --seed "$seed"
  # With a token: everything but the call that would end the session
  # (logout revokes the token).
  campaign "bearer-$round" --seed "$seed" --header "Authorization: Bearer $token" \
    --exclude-path "$prefix/logout"
  wait "${campaign_pids[@]}"
  tally "anonymous-$round"
  tally "bearer-$round"
  if [ "$total_requests" -ge "$min_requests" ] || [ "$round" -ge "$max_rounds" ]; then
    break
  fi
  round=$((round + 1))
done

echo "schemathesis: $total_requests requests, $total_failures failures"
[ "$total_failures" = 0 ] && [ "$total_requests" -ge "$min_requests" ]
