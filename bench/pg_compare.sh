#!/usr/bin/env bash
# bench/pg_compare.sh: the PostgreSQL rows of bench/run.sh (and the SQLite
# rows they are compared with), for two builds in one run, so a change to
# the PostgreSQL store is measured before and after on the same machine
# under the same load. Prints one table.
#
# Usage: bench/pg_compare.sh BEFORE_BIN AFTER_BIN
#   BEFORE_BIN, AFTER_BIN: `otpgate` release binaries (e.g. a copy of
#   target/release/otpgate built from main, and this tree's).
#   Needs OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL, psql, wrk, curl.
#   Tunables: BENCH_SECONDS (default 5), BENCH_PG_VERIFY_USERS (default 40000).
# The database seeded for BEFORE_BIN loses what AFTER_BIN's migrations
# added after BEFORE_BIN's, so an older binary opens it: by default
# versions 9 and 10 (the change feed and the second-factor function);
# BEFORE_SQL replaces that statement (e.g. bench/pg_before_0012.sql's
# text, for a BEFORE_BIN with migrations up to 11).
source "$(dirname "$0")/common.sh"
BEFORE=$1 AFTER=$2
SECS=${BENCH_SECONDS:-5}
PG_USERS=${BENCH_PG_VERIFY_USERS:-40000}
PG_URL=${OTPGATE_BENCH_PG_URL:-${OTPGATE_TEST_PG_URL:?set OTPGATE_BENCH_PG_URL}}
cargo build --release -q -p otpgate-loadgen

WORK=$TMP
ROWS=()
row() { ROWS+=("$(printf '%-52s %14s %s' "$1" "$2" "${3:-}")"); echo "${ROWS[-1]}" >&2; }

start_server() { # BIN DIR PORT [ENV...]
  local bin=$1 dir=$2 port=$3; shift 3
  POLL=0.01 start_server_in "$bin" "$dir" "$port" ".$port" "$@"
}

# SQLite, one instance, synchronous=full (AFTER_BIN; its SQLite path is the reference).
S=$WORK/sqlite; mkdir -p "$S/otpgate-data"
"$LG" seed --data-dir "$S/otpgate-data" --db "sqlite://$S/otpgate-data/otpgate.db" --users $((SECS * 16000)) \
  --out "$S/users.tsv" --app bench-sc --app-key-out "$S/app.key"
PORT=$(free_port)
start_server "$AFTER" "$S" "$PORT" OTPGATE_SQLITE_SYNCHRONOUS=full
bench_user "$AFTER" "$S" benchuser
TOKEN=$("$LG" login --url "http://127.0.0.1:$PORT" --user benchuser --password bench-password)
SM=$("$LG" get --urls "http://127.0.0.1:$PORT" --path /api/user/me --token "$TOKEN" --concurrency 64 --seconds "$SECS")
SV=$("$LG" verify --urls "http://127.0.0.1:$PORT" --input "$S/users.tsv" --concurrency 64 --seconds "$SECS")
USED=$(json "$SV" "['ok'] + $(json "$SV" "['other']") + 1000")
tail -n +"$USED" "$S/users.tsv" >"$S/users-sc.tsv"
SSC=$("$LG" otpvalid --urls "http://127.0.0.1:$PORT" --input "$S/users-sc.tsv" --key-file "$S/app.key" --app bench-sc --concurrency 64 --seconds "$SECS")
stop_server "$SERVER_PID"
SM_RATE=$(json "$SM" "['per_sec']"); SV_RATE=$(json "$SV" "['ok_per_sec']"); SSC_RATE=$(json "$SSC" "['ok_per_sec']")
row "SQLite full, 1 instance: GET /api/user/me" "$(printf '%.0f req/s' "$SM_RATE")" "(p99 $(json "$SM" "['p99_ms']") ms)"
row "SQLite full, 1 instance: verify-otp" "$(printf '%.0f ok/s' "$SV_RATE")" "(p99 $(json "$SV" "['p99_ms']") ms)"
row "SQLite full, 1 instance: otpvalid" "$(printf '%.0f ok/s' "$SSC_RATE")" "(p99 $(json "$SSC" "['p99_ms']") ms)"

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
for WHICH in before after; do
  BIN=$BEFORE; [ "$WHICH" = after ] && BIN=$AFTER
  pg_db "otpgate_pgcmp_${WHICH}_$$"
  P=$WORK/pg-$WHICH; mkdir -p "$P/otpgate-data"
  echo "bench: PostgreSQL, $WHICH (seeding $PG_USERS users)" >&2
  "$LG" seed --data-dir "$P/otpgate-data" --db "$DBURL" --users "$PG_USERS" --out "$P/users.tsv" \
    --app bench-sc --app-key-out "$P/app.key"
  if [ "$WHICH" = before ] && [ -n "${BEFORE_SQL:-}" ]; then
    psql -q "$DBURL" -c "$BEFORE_SQL" >/dev/null
  elif [ "$WHICH" = before ]; then
    psql -q "$DBURL" -c "DROP FUNCTION IF EXISTS otpgate_complete_second_factor; \
      DROP TRIGGER IF EXISTS users_change_feed ON users; DROP TRIGGER IF EXISTS users_truncate_feed ON users; \
      DROP TRIGGER IF EXISTS revoked_tokens_change_feed ON revoked_tokens; \
      DROP TRIGGER IF EXISTS revoked_tokens_truncate_feed ON revoked_tokens; \
      DROP FUNCTION IF EXISTS otpgate_note_change; DROP TABLE IF EXISTS change_feed; \
      DELETE FROM _sqlx_migrations WHERE version >= 9" >/dev/null
  fi
  PORT_A=$(free_port); PORT_B=$(free_port)
  start_server "$BIN" "$P" "$PORT_A" OTPGATE_DATABASE_URL="$DBURL"; A=$SERVER_PID
  bench_user "$BIN" "$P" benchuser OTPGATE_DATABASE_URL="$DBURL"
  T=$("$LG" login --url "http://127.0.0.1:$PORT_A" --user benchuser --password bench-password)
  M1=$("$LG" get --urls "http://127.0.0.1:$PORT_A" --path /api/user/me --token "$T" --concurrency 64 --seconds "$SECS")
  V1=$("$LG" verify --urls "http://127.0.0.1:$PORT_A" --input "$P/users.tsv" --concurrency 64 --seconds "$SECS")
  USED=$(json "$V1" "['ok'] + $(json "$V1" "['other']") + 1000")
  tail -n +"$USED" "$P/users.tsv" >"$P/users-sc.tsv"
  SC1=$("$LG" otpvalid --urls "http://127.0.0.1:$PORT_A" --input "$P/users-sc.tsv" --key-file "$P/app.key" --app bench-sc --concurrency 64 --seconds "$SECS")
  start_server "$BIN" "$P" "$PORT_B" OTPGATE_DATABASE_URL="$DBURL"; B=$SERVER_PID
  M2=$("$LG" get --urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --path /api/user/me --token "$T" --concurrency 64 --seconds "$SECS")
  USED2=$(json "$SC1" "['ok'] + $(json "$SC1" "['other']") + 1000")
  tail -n +"$USED2" "$P/users-sc.tsv" >"$P/users2.tsv"
  V2=$("$LG" verify --urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --input "$P/users2.tsv" --concurrency 64 --seconds "$SECS")
  stop_server "$A"; stop_server "$B"
  r() { json "$1" "['$2']"; }
  row "PG $WHICH, 1 instance: GET /api/user/me" "$(printf '%.0f req/s' "$(r "$M1" per_sec)")" "(p99 $(r "$M1" p99_ms) ms; x SQLite $(ratio "$(r "$M1" per_sec)" "$SM_RATE"))"
  row "PG $WHICH, 2 instances: GET /api/user/me" "$(printf '%.0f req/s' "$(r "$M2" per_sec)")" "(p99 $(r "$M2" p99_ms) ms; x SQLite $(ratio "$(r "$M2" per_sec)" "$SM_RATE"))"
  row "PG $WHICH, 1 instance: verify-otp" "$(printf '%.0f ok/s' "$(r "$V1" ok_per_sec)")" "(p99 $(r "$V1" p99_ms) ms; x SQLite full $(ratio "$(r "$V1" ok_per_sec)" "$SV_RATE"); failures $(r "$V1" other))"
  row "PG $WHICH, 2 instances: verify-otp" "$(printf '%.0f ok/s' "$(r "$V2" ok_per_sec)")" "(p99 $(r "$V2" p99_ms) ms; x SQLite full $(ratio "$(r "$V2" ok_per_sec)" "$SV_RATE"); failures $(r "$V2" other))"
  row "PG $WHICH, 1 instance: otpvalid" "$(printf '%.0f ok/s' "$(r "$SC1" ok_per_sec)")" "(p99 $(r "$SC1" p99_ms) ms; x SQLite full $(ratio "$(r "$SC1" ok_per_sec)" "$SSC_RATE"); failures $(r "$SC1" other))"
done
row "load average at the end" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${ROWS[@]}"
