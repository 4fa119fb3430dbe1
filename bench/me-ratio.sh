#!/usr/bin/env bash
# GET /api/user/me (a verified token) against GET /healthz, measured from
# outside as issue 18 asks: `wrk -t2 -c64 -d6s` on each route in turn,
# ROUNDS times (default 3), on one release-built server on a temporary
# SQLite store. Prints one line per round with the load average and the
# ratio me/healthz.
#   ROUNDS=3 bench/me-ratio.sh
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-3}
[ -x "$BIN" ] || build_release
port=$(free_port)
start_otpgate "$port"
add_user meuser pw-secret-99x
TOKEN=$(token "$port" meuser pw-secret-99x)
rps() { awk '/^Requests\/sec/ {print $2}'; }
for i in $(seq "$ROUNDS"); do
  h=$(wrk -t2 -c64 -d6s "http://127.0.0.1:$port/healthz" | rps)
  m=$(wrk -t2 -c64 -d6s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/user/me" | rps)
  printf 'round %d  load %s  healthz %.0f  me %.0f  ratio %s\n' "$i" "$(cut -d' ' -f1 /proc/loadavg)" "$h" "$m" \
    "$(python3 -c "print(f'{$m/$h:.2f}')")"
done
