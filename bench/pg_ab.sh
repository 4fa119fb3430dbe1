#!/usr/bin/env bash
# bench/pg_ab.sh BIN: verify-otp and otpvalid (right codes, 64 clients) on
# SQLite synchronous=full and on PostgreSQL (synchronous_commit as the
# server has it), one binary, alternating A/B in the same minute: ROUNDS
# rounds of SQLite verify, PG verify, SQLite otpvalid, PG otpvalid, SECS
# seconds each. Prints each pair and its ratio.
# Env: OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL; SECS (2), ROUNDS (2),
#   SQLITE_USERS (100000), PG_USERS (50000): enough for every run (each
#   success uses up one seeded user). The seeded pre-OTP tokens and OTP
#   statuses last 5 minutes: keep the seeding short (PostgreSQL is seeded
#   first, SQLite second, ~30,000 users a minute on a loaded machine).
BIN_ARG=$(realpath "${1:?usage: bench/pg_ab.sh BIN}")
source "$(dirname "$0")/common.sh"
BIN=$BIN_ARG
SECS=${SECS:-2} ROUNDS=${ROUNDS:-2}
PG_URL=${OTPGATE_BENCH_PG_URL:-${OTPGATE_TEST_PG_URL:?set OTPGATE_BENCH_PG_URL}}
cargo build --release -q -p otpgate-loadgen
pg_db "otpgate_pgab_$$"
P=$TMP/pg; mkdir -p "$P/otpgate-data"
"$LG" seed --data-dir "$P/otpgate-data" --db "$DBURL" --users "${PG_USERS:-50000}" --out "$P/users.tsv" \
  --app bench-sc --app-key-out "$P/app.key" >/dev/null
# BEFORE_SQL: run on the seeded PostgreSQL database, for an older BIN
# (e.g. "$(cat bench/pg_before_0012.sql)" for a binary without 0012).
[ -n "${BEFORE_SQL:-}" ] && psql -q "$DBURL" -c "$BEFORE_SQL" >/dev/null
S=$TMP/sqlite; mkdir -p "$S/otpgate-data"
"$LG" seed --data-dir "$S/otpgate-data" --db "sqlite://$S/otpgate-data/otpgate.db" \
  --users "${SQLITE_USERS:-100000}" --out "$S/users.tsv" --app bench-sc --app-key-out "$S/app.key" >/dev/null
SP=$(free_port); POLL=0.01 start_server_in "$BIN" "$S" "$SP" ".s" OTPGATE_SQLITE_SYNCHRONOUS=full; SPID=$SERVER_PID
PP=$(free_port); POLL=0.01 start_server_in "$BIN" "$P" "$PP" ".p" OTPGATE_DATABASE_URL="$DBURL"; PPID_=$SERVER_PID
declare -A NEXT=([s]=1 [p]=1)
run() { # s|p verify|otpvalid: sets RATE (ok/s)
  local w=$1 kind=$2 dir port out used
  if [ "$w" = s ]; then dir=$S port=$SP; else dir=$P port=$PP; fi
  tail -n +"${NEXT[$w]}" "$dir/users.tsv" >"$dir/slice.tsv"
  if [ "$kind" = verify ]; then
    out=$("$LG" verify --urls "http://127.0.0.1:$port" --input "$dir/slice.tsv" --concurrency 64 --seconds "$SECS")
  else
    out=$("$LG" otpvalid --urls "http://127.0.0.1:$port" --input "$dir/slice.tsv" --key-file "$dir/app.key" \
      --app bench-sc --concurrency 64 --seconds "$SECS")
  fi
  used=$(json "$out" "['ok'] + $(json "$out" "['other']") + 500")
  NEXT[$w]=$(( ${NEXT[$w]} + used ))
  [ "$(json "$out" "['other']")" = 0 ] || echo "bench: $w $kind: failures $(json "$out" "['other']")" >&2
  RATE=$(json "$out" "['ok_per_sec']")
}
for r in $(seq 1 "$ROUNDS"); do
  for kind in verify otpvalid; do
    run s $kind; a=$RATE; run p $kind; b=$RATE
    printf 'round %s %-9s SQLite full %6.0f ok/s  PostgreSQL %6.0f ok/s  ratio %.2f  (load %s)\n' \
      "$r" "$kind" "$a" "$b" "$(python3 -c "print($b/$a)")" "$(cut -d' ' -f1 /proc/loadavg)"
  done
done
stop_server "$SPID"; stop_server "$PPID_"
