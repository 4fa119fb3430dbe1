#!/usr/bin/env bash
# bench/run.sh: otpgate's hot paths, measured in one run, printed as one table.
#
# Builds release, starts the server on a temporary store, seeds users, drives
# load on loopback (wrk, and bench/loadgen for what wrk cannot do), and prints
# figures and ratios taken in this same run. A benchmark, not a test: it never
# fails on a slow machine. Everything runs on 127.0.0.1 and stops by itself.
#
# Usage: bench/run.sh            (SQLite; PostgreSQL rows too when
#                                 OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL is set)
# Tunables: BENCH_SECONDS (default 8), BENCH_VERIFY_USERS (default 32000 x BENCH_SECONDS: users seeded per SQLite run, enough for verify-otp and otpvalid at 16,000/s each),
#   BENCH_PG_VERIFY_USERS (default 24000 x BENCH_SECONDS: verify-otp on one and two instances and otpvalid at 5,000/s each; the seeded OTP statuses last 5 minutes), BENCH_WS=0 (skip the Socket.IO rows),
#   BENCH_WS_CLIENTS (default 10000), BENCH_LDAP=0 (skip the LDAP rows, bench/ldap.sh),
#   BENCH_LB=0 (skip the HAProxy rows, bench/balancer.sh),
#   BENCH_NETHCTI=0 (skip the nethcti login rows).
# Every throughput row carries its p99 latency.
# Needs: wrk (apt-get install wrk), curl; psql for the PostgreSQL rows; slapd and
#   ldap-utils for the LDAP rows; haproxy for the balancer rows; node for the
#   nethcti rows.
source "$(dirname "$0")/common.sh"

SECS=${BENCH_SECONDS:-8}
VERIFY_USERS=${BENCH_VERIFY_USERS:-$((SECS * 32000))}
PG_VERIFY_USERS=${BENCH_PG_VERIFY_USERS:-$((SECS * 24000))}
PG_URL=${OTPGATE_BENCH_PG_URL:-${OTPGATE_TEST_PG_URL:-}}
CORES=$(nproc)

command -v wrk >/dev/null || { echo "bench: wrk is required (apt-get install wrk)"; exit 1; }
echo "bench: building release binaries" >&2
build_release_bins
WORK=$TMP

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
wrk_rps() { awk '/^Requests\/sec/ {print $2}'; }
# wrk_p99 <OUT: wrk --latency's 99th percentile, in milliseconds.
wrk_p99() { awk '$1 == "99%" {v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.1f", v * f}'; }

ROWS=()
row() { ROWS+=("$(printf '%-58s %16s %s' "$1" "$2" "${3:-}")"); }

# cpu_of PID...: the CPU time (clock ticks) those processes used so far.
cpu_of() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }

# cpu_us_per GET_JSON TICKS: server CPU per request (microseconds) of a
# `loadgen get` result.
cpu_us_per() {
  python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f'{int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / max(r[\"requests\"], 1):.1f}')" "$1" "$2" "$(getconf CLK_TCK)"
}

# start_server DIR PORT [ENV=VALUE...]: starts `otpgate serve` in DIR,
# waits for /healthz, sets SERVER_PID and START_MS (common.sh).
start_server() {
  local dir=$1 port=$2; shift 2
  start_server_in "$BIN" "$dir" "$port" "" "$@"
}

add_user() { # DIR NAME [ENV...]
  bench_user "$BIN" "$@"
}

login_lua=$WORK/login.lua
# Logins rotate over LOGIN_USERS users: a user's attempts in flight count
# against that user's lockout (no more than 5 password checks run at once
# for one user; docs/security.md), so one user hammered by 32 connections
# would measure 429s, not logins.
LOGIN_USERS=32
cat >"$login_lua" <<EOF
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"username":"benchlogin%d","password":"bench-password"}', n % $LOGIN_USERS)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
EOF
wrk_non2xx() { awk '/Non-2xx or 3xx responses/ {n=$NF} END {print n+0}'; }

# ---------------------------------------------------------------- SQLite
echo "bench: SQLite, one instance" >&2
S=$WORK/sqlite; PORT=$(free_port)
# The login rows drive 32 logins at once from one address: the per-address
# login lockout counts attempts in flight (20 by default; docs/security.md),
# so it is raised to its maximum (100) here to measure the hashing, not
# that rule.
start_server "$S" "$PORT" OTPGATE_SQLITE_SYNCHRONOUS=full OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES=100
PID=$SERVER_PID
sleep 0.3
IDLE_KB=$(rss_kb "$PID")
row "start to healthy (target < 200 ms)" "${START_MS} ms"
row "idle RSS (target < 30 MB)" "$((IDLE_KB / 1024)) MB"
add_user "$S" benchuser
for i in $(seq 0 $((LOGIN_USERS - 1))); do add_user "$S" "benchlogin$i"; done
TOKEN=$("$LG" login --url "http://127.0.0.1:$PORT" --user benchuser --password bench-password)

# 1. authenticated GET vs healthz
wrk -t2 -c64 -d"${SECS}s" --latency "http://127.0.0.1:$PORT/healthz" >"$WORK/healthz.out"
wrk -t2 -c64 -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/user/me" >"$WORK/me.out"
H=$(wrk_rps <"$WORK/healthz.out"); M=$(wrk_rps <"$WORK/me.out")
row "GET /healthz (wrk -c64)" "$(printf '%.0f req/s' "$H")" "(p99 $(wrk_p99 <"$WORK/healthz.out") ms)"
row "GET /api/user/me, JWT + revocation check" "$(printf '%.0f req/s' "$M")" "(p99 $(wrk_p99 <"$WORK/me.out") ms)"
row "  ratio me/healthz (target >= 0.70)" "$(python3 -c "print(f'{$M/$H:.2f}')")"

# 3. logins vs the argon2id bound, and GET latency while logins saturate
HASH_MS=$(json "$("$LG" hashtime --count 10)" "['ms_per_hash']")
# Informative: one hash while one runs on each core, fresh memory per hash
# and on the gateway's pool (memory reused per thread). The bound stays
# cores / single-hash time.
PAR=$("$LG" hashtime --count 10 --parallel "$CORES")
BOUND=$(python3 -c "print($CORES*1000/$HASH_MS)")
wrk -t1 -c32 -d"${SECS}s" --latency -s "$login_lua" "http://127.0.0.1:$PORT/api/login" >"$WORK/login-alone.out"
L=$(wrk_rps <"$WORK/login-alone.out")
L_NON2XX=$(wrk_non2xx <"$WORK/login-alone.out")
wrk -t1 -c32 -d"${SECS}s" -s "$login_lua" "http://127.0.0.1:$PORT/api/login" >"$WORK/login.out" &
WRK_PID=$!
sleep 1
GET_UNDER=$("$LG" get --urls "http://127.0.0.1:$PORT" --path /api/user/me --token "$TOKEN" --concurrency 8 --seconds $((SECS - 2)))
wait "$WRK_PID"
L_UNDER=$(wrk_rps <"$WORK/login.out")
row "argon2id hash (19 MiB, 2 passes), one core" "$(printf '%.1f ms' "$HASH_MS")"
row "  $CORES at once: fresh memory / hashing pool (info)" "$(printf '%.1f / %.1f ms' "$(json "$PAR" "['ms_per_hash_parallel_fresh']")" "$(json "$PAR" "['ms_per_hash_parallel_pool']")")"
row "POST /api/login (wrk -c32, $LOGIN_USERS users)" "$(printf '%.0f req/s' "$L")" "(p99 $(wrk_p99 <"$WORK/login-alone.out") ms, non-200: $L_NON2XX)"
row "  bound = cores / hash time" "$(printf '%.0f req/s' "$BOUND")"
row "  ratio login/bound (target >= 0.90)" "$(python3 -c "print(f'{$L/$BOUND:.2f}')")"
row "GET /api/user/me p99 while logins saturate (< 20 ms)" "$(json "$GET_UNDER" "['p99_ms']") ms" "($(json "$GET_UNDER" "['per_sec']" | cut -d. -f1) GET/s beside $(printf '%.0f' "$L_UNDER") logins/s ($(wrk_non2xx <"$WORK/login.out") not 200), non-200: $(json "$GET_UNDER" "['non_200']"))"

# 4. wrong-OTP flood against one account
"$LG" seed --data-dir "$S/otpgate-data" --db "sqlite://$S/otpgate-data/otpgate.db" --users 1 --prefix flood --out "$WORK/flood.tsv"
FLOOD=$("$LG" flood --url "http://127.0.0.1:$PORT" --input "$WORK/flood.tsv" --seconds 5)
row "wrong-OTP flood on one account, answers" "$(printf '%.0f req/s' "$(json "$FLOOD" "['per_sec']")")" "(p99 $(json "$FLOOD" "['p99_ms']") ms)"
row "  right code sent during the flood, accepted" "$(json "$FLOOD" "['successes']") of $(json "$FLOOD" "['right_code_attempts']")" "(lockout held if 0)"
PEAK_KB=$(hwm_kb "$PID")
stop_server "$PID"

# 2. verify-otp with correct codes, SQLite synchronous=full and =normal
for SYNC in full normal; do
  echo "bench: verify-otp, SQLite synchronous=$SYNC (seeding $VERIFY_USERS users)" >&2
  D=$WORK/verify-$SYNC; mkdir -p "$D"
  "$LG" seed --data-dir "$D/otpgate-data" --db "sqlite://$D/otpgate-data/otpgate.db" --users "$VERIFY_USERS" --out "$D/users.tsv" \
    --app bench-sc --app-key-out "$D/app.key"
  PORT=$(free_port)
  start_server "$D" "$PORT" OTPGATE_SQLITE_SYNCHRONOUS=$SYNC
  V=$("$LG" verify --urls "http://127.0.0.1:$PORT" --input "$D/users.tsv" --concurrency 64 --seconds "$SECS")
  [ "$SYNC" = full ] && SQLITE_FULL_VERIFY=$(json "$V" "['ok_per_sec']")
  row "POST verify-otp, correct codes, SQLite $SYNC (>= 10000/s)" "$(printf '%.0f ok/s' "$(json "$V" "['ok_per_sec']")")" "(p99 $(json "$V" "['p99_ms']") ms, failures $(json "$V" "['other']"), users exhausted: $(json "$V" "['exhausted']"))"
  # Single Connect otpvalid on the users verify-otp did not reach (each
  # seeded user also has a fresh otpstatus record for the application).
  USED=$(json "$V" "['ok'] + $(json "$V" "['other']") + 1000")
  tail -n +"$USED" "$D/users.tsv" >"$D/users-sc.tsv"
  SC=$("$LG" otpvalid --urls "http://127.0.0.1:$PORT" --input "$D/users-sc.tsv" --key-file "$D/app.key" --app bench-sc --concurrency 64 --seconds "$SECS")
  [ "$SYNC" = full ] && SQLITE_FULL_SC=$(json "$SC" "['ok_per_sec']")
  row "POST Single Connect otpvalid, correct codes, SQLite $SYNC" "$(printf '%.0f ok/s' "$(json "$SC" "['ok_per_sec']")")" "(p99 $(json "$SC" "['p99_ms']") ms, failures $(json "$SC" "['other']"), users exhausted: $(json "$SC" "['exhausted']"))"
  stop_server "$SERVER_PID"
done
row "peak RSS during the SQLite runs" "$((PEAK_KB / 1024)) MB"

# ------------------------------------------------------------- PostgreSQL
if [ -n "$PG_URL" ] && command -v psql >/dev/null; then
  pg_db "otpgate_bench_$$"
  P=$WORK/pg; mkdir -p "$P/otpgate-data"
  echo "bench: PostgreSQL (seeding $PG_VERIFY_USERS users)" >&2
  "$LG" seed --data-dir "$P/otpgate-data" --db "$DBURL" --users "$PG_VERIFY_USERS" --out "$P/users.tsv" \
    --app bench-sc --app-key-out "$P/app.key"
  PORT_A=$(free_port); PORT_B=$(free_port)
  start_server "$P" "$PORT_A" OTPGATE_DATABASE_URL="$DBURL"
  A=$SERVER_PID
  add_user "$P" benchuser OTPGATE_DATABASE_URL="$DBURL"
  PGTOKEN=$("$LG" login --url "http://127.0.0.1:$PORT_A" --user benchuser --password bench-password)
  C0=$(cpu_of "$A")
  M1=$("$LG" get --urls "http://127.0.0.1:$PORT_A" --path /api/user/me --token "$PGTOKEN" --concurrency 64 --seconds "$SECS")
  M1_US=$(cpu_us_per "$M1" $(( $(cpu_of "$A") - C0 )))
  V1=$("$LG" verify --urls "http://127.0.0.1:$PORT_A" --input "$P/users.tsv" --concurrency 64 --seconds "$SECS")
  # Single Connect otpvalid on the users verify-otp did not reach.
  USED=$(json "$V1" "['ok'] + $(json "$V1" "['other']") + 1000")
  tail -n +"$USED" "$P/users.tsv" >"$P/users-sc.tsv"
  SC1=$("$LG" otpvalid --urls "http://127.0.0.1:$PORT_A" --input "$P/users-sc.tsv" --key-file "$P/app.key" --app bench-sc --concurrency 64 --seconds "$SECS")
  start_server "$P" "$PORT_B" OTPGATE_DATABASE_URL="$DBURL"
  B=$SERVER_PID
  C0=$(cpu_of "$A" "$B")
  M2=$("$LG" get --urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --path /api/user/me --token "$PGTOKEN" --concurrency 64 --seconds "$SECS")
  M2_US=$(cpu_us_per "$M2" $(( $(cpu_of "$A" "$B") - C0 )))
  # verify-otp and otpvalid used the first parts of the file; tokens are single use.
  USED=$(json "$SC1" "['ok'] + $(json "$SC1" "['other']") + 1000")
  tail -n +"$USED" "$P/users-sc.tsv" >"$P/users2.tsv"
  V2=$("$LG" verify --urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --input "$P/users2.tsv" --concurrency 64 --seconds "$SECS")
  stop_server "$A"; stop_server "$B"
  # Two instances sized for the machine: each with half its cores as
  # worker threads (TOKIO_WORKER_THREADS, docs/scaling.md), so the two
  # together run as many threads as the one instance above.
  HALF=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
  start_server "$P" "$PORT_A" OTPGATE_DATABASE_URL="$DBURL" TOKIO_WORKER_THREADS=$HALF
  A=$SERVER_PID
  start_server "$P" "$PORT_B" OTPGATE_DATABASE_URL="$DBURL" TOKIO_WORKER_THREADS=$HALF
  B=$SERVER_PID
  C0=$(cpu_of "$A" "$B")
  M2H=$("$LG" get --urls "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B" --path /api/user/me --token "$PGTOKEN" --concurrency 64 --seconds "$SECS")
  M2H_US=$(cpu_us_per "$M2H" $(( $(cpu_of "$A" "$B") - C0 )))
  row "PostgreSQL, 1 instance: GET /api/user/me" "$(printf '%.0f req/s' "$(json "$M1" "['per_sec']")")" "(p99 $(json "$M1" "['p99_ms']") ms; server CPU $M1_US us/req)"
  row "PostgreSQL, 2 instances: GET /api/user/me" "$(printf '%.0f req/s' "$(json "$M2" "['per_sec']")")" "(p99 $(json "$M2" "['p99_ms']") ms; server CPU $M2_US us/req; each with every core's worker thread)"
  row "PostgreSQL, 2 instances of $HALF worker threads each: GET /api/user/me" "$(printf '%.0f req/s' "$(json "$M2H" "['per_sec']")")" "(p99 $(json "$M2H" "['p99_ms']") ms; server CPU $M2H_US us/req)"
  row "  ratio 2 instances / 1, GET /api/user/me (target >= 1)" "$(python3 -c "print(f'{$(json "$M2" "['per_sec']") / $(json "$M1" "['per_sec']"):.2f} (threads split: {$(json "$M2H" "['per_sec']") / $(json "$M1" "['per_sec']"):.2f})')")"
  row "PostgreSQL, 1 instance: verify-otp, correct codes" "$(printf '%.0f ok/s' "$(json "$V1" "['ok_per_sec']")")" "(p99 $(json "$V1" "['p99_ms']") ms, users exhausted: $(json "$V1" "['exhausted']"))"
  row "PostgreSQL, 2 instances: verify-otp, correct codes" "$(printf '%.0f ok/s' "$(json "$V2" "['ok_per_sec']")")" "(p99 $(json "$V2" "['p99_ms']") ms, users exhausted: $(json "$V2" "['exhausted']"))"
  row "PostgreSQL, 1 instance: otpvalid, correct codes" "$(printf '%.0f ok/s' "$(json "$SC1" "['ok_per_sec']")")" "(p99 $(json "$SC1" "['p99_ms']") ms, users exhausted: $(json "$SC1" "['exhausted']"))"
  row "  ratio PG / SQLite full, verify-otp (target >= 0.5)" "$(python3 -c "print(f'{$(json "$V1" "['ok_per_sec']") / max($SQLITE_FULL_VERIFY, 1):.2f}')")"
  row "  ratio PG / SQLite full, otpvalid (target >= 0.5)" "$(python3 -c "print(f'{$(json "$SC1" "['ok_per_sec']") / max($SQLITE_FULL_SC, 1):.2f}')")"
  stop_server "$A"; stop_server "$B"
else
  row "PostgreSQL rows" "skipped" "(set OTPGATE_BENCH_PG_URL=postgres://...)"
fi

# 6. Socket.IO: clients held, their RSS, logout-to-disconnect latency
if [ "${BENCH_WS:-1}" != 0 ] && [ -f tests/clients/node_modules/socket.io-client/package.json ]; then
  echo "bench: Socket.IO (bench/ws.sh, ${BENCH_WS_CLIENTS:-10000} clients)" >&2
  if BENCH_ROWS_OUT="$WORK/ws.rows" N="${BENCH_WS_CLIENTS:-10000}" bench/ws.sh >"$WORK/ws.out" 2>&1; then
    while IFS=$'\t' read -r label value note; do row "$label" "$value" "$note"; done <"$WORK/ws.rows"
  else
    cat "$WORK/ws.out" >&2
    row "Socket.IO rows" "failed" "(bench/ws.sh output above)"
  fi
else
  row "Socket.IO rows" "skipped" "(BENCH_WS=0, or no npm client: cd tests/clients && npm ci)"
fi

# 7. LDAP: logins through the LDAP backend (a slapd started by
# bench/ldap.sh) beside local logins.
if [ "${BENCH_LDAP:-1}" != 0 ] && [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null; then
  echo "bench: LDAP logins (bench/ldap.sh)" >&2
  if BENCH_ROWS_OUT="$WORK/ldap.rows" SECS="$SECS" bench/ldap.sh >"$WORK/ldap.out" 2>&1; then
    while IFS=$'\t' read -r label value note; do row "$label" "$value" "$note"; done <"$WORK/ldap.rows"
  else
    cat "$WORK/ldap.out" >&2
    row "LDAP rows" "failed" "(bench/ldap.sh output above)"
  fi
else
  row "LDAP rows" "skipped" "(BENCH_LDAP=0, or no slapd: apt-get install slapd ldap-utils)"
fi

# 8. Two instances on one PostgreSQL behind HAProxy (bench/balancer.sh).
if [ "${BENCH_LB:-1}" != 0 ] && [ -n "$PG_URL" ] && [ -x /usr/sbin/haproxy ]; then
  echo "bench: two instances behind HAProxy (bench/balancer.sh)" >&2
  if BENCH_ROWS_OUT="$WORK/lb.rows" SECS="$SECS" OTPGATE_BENCH_PG_URL="$PG_URL" bench/balancer.sh >"$WORK/lb.out" 2>&1; then
    while IFS=$'\t' read -r label value note; do row "$label" "$value" "$note"; done <"$WORK/lb.rows"
  else
    cat "$WORK/lb.out" >&2
    row "balancer rows" "failed" "(bench/balancer.sh output above)"
  fi
else
  row "balancer rows" "skipped" "(BENCH_LB=0, no PostgreSQL URL, or no haproxy: apt-get install haproxy)"
fi

# 9. Login through the nethcti backend (API.md §9) against a CTI stand-in
#    (bench/cti-standin.js): logins/s, and the latency of one login at a
#    time next to a local one (the extra cost of the three calls to the CTI
#    server, without the local argon2id hash). Self-contained: its own
#    server, stand-in and users; BENCH_NETHCTI=0 skips it.
bench_nethcti_login() {
  local dir=$WORK/nethcti port cti_port cti_pid pid lua rps non2xx lat_cti lat_local i
  command -v node >/dev/null || { row "nethcti login rows" "skipped" "(no node)"; return; }
  mkdir -p "$dir"
  node bench/cti-standin.js bench-password >"$dir/cti.port" 2>"$dir/cti.err" &
  cti_pid=$!
  PIDS+=("$cti_pid")
  until [ -s "$dir/cti.port" ]; do kill -0 "$cti_pid" 2>/dev/null || { cat "$dir/cti.err" >&2; return; }; sleep 0.01; done
  cti_port=$(head -1 "$dir/cti.port")
  port=$(free_port)
  start_server "$dir/server" "$port" OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES=100 \
    NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT="127.0.0.1:$cti_port" NETHVOICE_MIDDLEWARE_V1_API_PATH=/webrest
  pid=$SERVER_PID
  lua=$dir/login.lua
  cat >"$lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"username":"benchcti%d","password":"bench-password"}', n % $LOGIN_USERS)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
  # The first login of each user creates it: not measured.
  for i in $(seq 0 $((LOGIN_USERS - 1))); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"username\":\"benchcti$i\",\"password\":\"bench-password\"}" "http://127.0.0.1:$port/api/login"
  done
  wrk -t1 -c32 -d"${SECS}s" --latency -s "$lua" "http://127.0.0.1:$port/api/login" >"$dir/load.out"
  rps=$(wrk_rps <"$dir/load.out")
  non2xx=$(wrk_non2xx <"$dir/load.out")
  lat_cti=$(wrk -t1 -c1 -d"${SECS}s" -s "$lua" "http://127.0.0.1:$port/api/login" | awk '/^    Latency/ {print $2}')
  stop_server "$pid"
  # The same one-at-a-time logins on a local store.
  port=$(free_port)
  start_server "$dir/local" "$port" OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES=100
  pid=$SERVER_PID
  for i in $(seq 0 $((LOGIN_USERS - 1))); do add_user "$dir/local" "benchlogin$i"; done
  lat_local=$(wrk -t1 -c1 -d"${SECS}s" -s "$login_lua" "http://127.0.0.1:$port/api/login" | awk '/^    Latency/ {print $2}')
  stop_server "$pid"
  row "POST /api/login, nethcti backend (wrk -c32, $LOGIN_USERS users)" "$(printf '%.0f req/s' "$rps")" "(p99 $(wrk_p99 <"$dir/load.out") ms, non-200: $non2xx; CTI stand-in: bench/cti-standin.js)"
  row "  one at a time: nethcti / local login latency" "$lat_cti / $lat_local" "(nethcti: 3 calls to the CTI server, no local hash)"
}

if [ "${BENCH_NETHCTI:-1}" != 0 ]; then
  echo "bench: login through the nethcti backend" >&2
  bench_nethcti_login
fi

echo
echo "otpgate benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -m), $CORES cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "load generators share the cores with the server; ${SECS}s per measurement"
printf '%s\n' "-------------------------------------------------------------------------------------------------------"
printf '%s\n' "${ROWS[@]}"
