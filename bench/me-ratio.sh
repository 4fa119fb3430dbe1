#!/usr/bin/env bash
# GET /api/user/me (a verified token) against GET /healthz, measured from
# outside as issue 18 asks: `wrk -t2 -c64 -d6s` on each route in turn,
# ROUNDS times (default 3), on one release-built server on a temporary
# SQLite store, or with STORE=postgres on a throwaway PostgreSQL database
# (on OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL; dropped on exit), where
# the token checks are remembered by the change feed. Prints one line per
# round with the load average and the ratio me/healthz. The binary is
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
rps() { awk '/^Requests\/sec/ {print $2}'; }
for i in $(seq "$ROUNDS"); do
  h=$(wrk -t2 -c64 -d6s "http://127.0.0.1:$port/healthz" | rps)
  m=$(wrk -t2 -c64 -d6s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/user/me" | rps)
  printf 'round %d  %s  load %s  healthz %.0f  me %.0f  ratio %s\n' "$i" "$STORE" "$(cut -d' ' -f1 /proc/loadavg)" "$h" "$m" \
    "$(python3 -c "print(f'{$m/$h:.2f}')")"
done
