#!/usr/bin/env bash
# Reverse-proxy overhead: requests/s of a small upstream application
# (tests/clients/upstream.js, node's http) measured straight and through
# otpgate (token checked, headers rewritten, body streamed), in one run,
# with wrk on loopback. Bounded: DURATION seconds per measurement.
#   DURATION=10 CONNECTIONS=64 bench/proxy.sh
source "$(dirname "$0")/common.sh"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "bench: install wrk" >&2; exit 1; }
command -v node >/dev/null || { echo "bench: install node" >&2; exit 1; }
build_release

up=$(free_port)
node tests/clients/upstream.js "$up" >"$TMP/upstream.out" &
PIDS+=("$!")
wait_port "$up"
port=$(free_port)
start_otpgate "$port" OTPGATE_UPSTREAM_URL="http://127.0.0.1:$up"
add_user bench bench-pw
TOKEN=$(token "$port" bench bench-pw)
check=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/app/ping")
echo "$check" | grep -q '"user":"bench"' || { echo "bench: proxy check failed: $check" >&2; exit 1; }

run() { # URL [header]
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" 2>&1
}
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '/ 99%/ {print $2}'; }

# Warm up both paths, then measure straight, proxied, straight again.
run -d2s "http://127.0.0.1:$up/api/app/ping" >/dev/null
run -d2s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/app/ping" >/dev/null
direct1=$(run "http://127.0.0.1:$up/api/app/ping")
proxied=$(run -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/app/ping")
direct2=$(run "http://127.0.0.1:$up/api/app/ping")
d1=$(echo "$direct1" | rps); d2=$(echo "$direct2" | rps); p=$(echo "$proxied" | rps)
ratio=$(awk -v p="$p" -v a="$d1" -v b="$d2" 'BEGIN {printf "%.2f", p/((a+b)/2)}')
echo "== bench/proxy.sh: wrk -t2 -c$CONNECTIONS -d${DURATION}s, loopback, $(nproc) cores shared by wrk, node and otpgate =="
echo "straight to upstream:   $d1 req/s (p99 $(echo "$direct1" | p99)), again $d2 req/s (p99 $(echo "$direct2" | p99))"
echo "through otpgate:        $p req/s (p99 $(echo "$proxied" | p99))"
echo "ratio through/straight: $ratio"
echo "non-2xx through otpgate: $(echo "$proxied" | awk '/Non-2xx/ {print $4}')"
