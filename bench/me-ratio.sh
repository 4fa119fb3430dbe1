#!/usr/bin/env bash
# GET /api/user/me (a verified token) against GET /healthz, measured from
# outside as issue 18 asks: `wrk -t2 -c64 -d6s` on each route in turn,
# ROUNDS times (default 3), on one release-built server on a temporary
# SQLite store, or with STORE=postgres on a throwaway PostgreSQL database
# (on OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL; dropped on exit), where
# the token checks are remembered by the change feed. Prints one line per
# round with the load average, the ratio me/healthz, and the server's CPU
# per request on each route (and their ratio, healthz/me). The binary is
# $CARGO_TARGET_DIR/release/otpgate (built if missing).
#   ROUNDS=3 bench/me-ratio.sh
#   STORE=postgres OTPGATE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/me-ratio.sh
PG_URL=${OTPGATE_BENCH_PG_URL:-${OTPGATE_TEST_PG_URL:-}}
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-3}
STORE=${STORE:-sqlite}
[ -x "$BIN" ] || build_release
case "$STORE" in
  sqlite) ;;
  postgres)
    [ -n "$PG_URL" ] || { echo "me-ratio: STORE=postgres needs OTPGATE_TEST_PG_URL" >&2; exit 1; }
    pg_db "otpgate_meratio_$$"
    # Read by the server and by the CLI that adds the user.
    export OTPGATE_DATABASE_URL=$DBURL
    ;;
  *) echo "me-ratio: STORE is sqlite or postgres" >&2; exit 1 ;;
esac
port=$(free_port)
start_otpgate "$port"
add_user meuser pw-secret-99x
TOKEN=$(token "$port" meuser pw-secret-99x)
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
reqs() { awk '/requests in/ {print $1}' "$1"; }
# run NAME wrk-args...: wrk on the server, its output in $TMP/NAME; sets
# CPU to the server's CPU (user + system, clock ticks) during the run.
run() {
  local name=$1; shift
  local c0; c0=$(cpu_ticks "$OTPGATE_PID")
  wrk -t2 -c64 -d6s "$@" >"$TMP/$name"
  CPU=$(( $(cpu_ticks "$OTPGATE_PID") - c0 ))
}
# us_per NAME: the server's CPU per request in that run, in microseconds.
us_per() { python3 -c "print(f'{$2 * 1e6 / $(getconf CLK_TCK) / $(reqs "$TMP/$1"):.2f}')"; }
for i in $(seq "$ROUNDS"); do
  run healthz "http://127.0.0.1:$port/healthz"; hc=$CPU
  run me -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/user/me"; mc=$CPU
  h=$(rps "$TMP/healthz"); m=$(rps "$TMP/me")
  hu=$(us_per healthz "$hc"); mu=$(us_per me "$mc")
  # ratio: requests per second, me/healthz (issue 18's figure); cpu: the
  # server's CPU per request, healthz/me (what the ratio tends to when
  # the server has the CPU to itself; less sensitive to other load).
  printf 'round %d  %s  load %s  healthz %.0f  me %.0f  ratio %s  cpu/req healthz %s us  me %s us  cpu %s\n' \
    "$i" "$STORE" "$(cut -d' ' -f1 /proc/loadavg)" "$h" "$m" \
    "$(python3 -c "print(f'{$m/$h:.2f}')")" "$hu" "$mu" "$(python3 -c "print(f'{$hu/$mu:.2f}')")"
done
