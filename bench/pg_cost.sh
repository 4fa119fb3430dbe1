#!/usr/bin/env bash
# bench/pg_cost.sh BIN LOADGEN: what one request costs the PostgreSQL server
# (docs/scaling.md): WAL bytes, commits, bytes on the wire and PostgreSQL
# CPU per GET /api/user/me (token remembered) and per verify-otp success,
# from pg_current_wal_lsn(), pg_stat_database, /proc of every postgres
# process and `ss` before and after each run. Other databases' activity on
# the same server counts in the CPU figure (an upper bound then).
# Env: OTPGATE_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres),
#   SECS (default 4), HOOK (SQL run on the seeded database before the server
#   starts, e.g. to try a variant of a trigger).
# The binaries are named relative to where the script is called from.
BIN_ARG=$(realpath "${1:?usage: bench/pg_cost.sh BIN LOADGEN}")
LG_ARG=$(realpath "${2:?usage: bench/pg_cost.sh BIN LOADGEN}")
source "$(dirname "$0")/common.sh"
BIN=$BIN_ARG; LG=$LG_ARG; SECS=${SECS:-4}
PG_URL=${OTPGATE_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG=$PG_URL
DB=otpgate_cost_$$
W=$TMP; mkdir -p $W/otpgate-data
pg_db "$DB"; URL=$DBURL
$LG seed --data-dir $W/otpgate-data --db $URL --users 12000 --out $W/users.tsv --app bench-sc --app-key-out $W/app.key >/dev/null
[ -n "${HOOK:-}" ] && psql -q $URL -c "$HOOK"
PORT=$(free_port)
POLL=0.05 start_server_in "$BIN" "$W" "$PORT" "" OTPGATE_DATABASE_URL=$URL
bench_user "$BIN" "$W" benchuser OTPGATE_DATABASE_URL=$URL
T=$($LG login --url http://127.0.0.1:$PORT --user benchuser --password bench-password)
snap() {
  local wal commits cpu bytes
  wal=$(psql -Atq $PG -c "select pg_current_wal_lsn() - '0/0'::pg_lsn")
  commits=$(psql -Atq $PG -c "select xact_commit from pg_stat_database where datname='$DB'")
  cpu=0; for p in $(pgrep -u postgres postgres); do s=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0); cpu=$((cpu+s)); done
  bytes=$(ss -tinH "( dport = :5432 )" | grep -o 'bytes_sent:[0-9]*\|bytes_received:[0-9]*' | awk -F: '{s+=$2} END {print s+0}')
  echo "$wal $commits $cpu $bytes"
}
measure() { # name cmd...
  local name=$1; shift
  sleep 1.5; local a; a=$(snap)
  local out; out=$("$@")
  sleep 1.5; local b; b=$(snap)
  local n; n=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d.get('ok', d.get('requests', d.get('count', 0))))" "$out")
  python3 - "$name" "$a" "$b" "$n" "$out" <<'PY'
import sys, json
name, a, b, n, out = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5]
a = list(map(int, a)); b = list(map(int, b)); n = max(n, 1)
tck = 100
print(f"{name}: n={n} rate={json.loads(out).get('ok_per_sec', json.loads(out).get('per_sec'))} WAL={ (b[0]-a[0])/n:.0f} B/op commits={(b[1]-a[1])/n:.2f}/op PG-CPU={(b[2]-a[2])/tck/n*1e6:.0f} us/op wire={(b[3]-a[3])/n:.0f} B/op (includes pings)")
PY
}
measure "GET /me (cached)" $LG get --urls http://127.0.0.1:$PORT --path /api/user/me --token "$T" --concurrency 64 --seconds $SECS
measure "verify-otp" $LG verify --urls http://127.0.0.1:$PORT --input $W/users.tsv --concurrency 64 --seconds $SECS
echo "loadgen get output sample: $($LG get --urls http://127.0.0.1:$PORT --path /api/user/me --token "$T" --concurrency 4 --seconds 1)"
