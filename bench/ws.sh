#!/usr/bin/env bash
# Socket.IO capacity and revocation latency of one otpgate instance:
# N logged-in clients (default 10,000) of the npm socket.io-client held by
# one release-built instance on a temporary SQLite store, its RSS and idle
# CPU while holding them, then SAMPLES (default 200) times the delay from
# `POST /api/logout` to that socket's `session_revoked`, and a few
# `otpgate token revoke-all` runs from the CLI (another process, seen by
# polling). Loopback only; bounded by N, SAMPLES and timeouts.
#   N=10000 SAMPLES=200 bench/ws.sh
source "$(dirname "$0")/common.sh"
N=${N:-10000}
SAMPLES=${SAMPLES:-200}
CLI_SAMPLES=${CLI_SAMPLES:-10}
need_node_client
build_release
# Each socket is a file descriptor on both sides.
ulimit -n "$(( N * 2 + 4096 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=$(free_port)
# Every client comes from 127.0.0.1: no per-address connection cap.
start_otpgate "$port" OTPGATE_CONNECTIONS_MAX_PER_ADDRESS=0
add_user bench bench-pw
add_user probe probe-pw
add_user probe2 probe2-pw
TOKEN=$(token "$port" bench bench-pw)
rss0=$(rss_mib "$OTPGATE_PID")

mkfifo "$TMP/in"
timeout 600 node tests/clients/bench-ws.js "http://127.0.0.1:$port" "$TOKEN" "$N" probe probe-pw "$SAMPLES" \
  <"$TMP/in" >"$TMP/node.out" &
NODE_PID=$!
PIDS+=("$NODE_PID")
exec 4>"$TMP/in"
wait_for "$TMP/node.out" '"held"\|"error"' 600
grep -q '"error"' "$TMP/node.out" && { cat "$TMP/node.out"; exit 1; }
held=$(grep '"held"' "$TMP/node.out")
sleep 2
rss1=$(rss_mib "$OTPGATE_PID")
t0=$(cpu_ticks "$OTPGATE_PID"); sleep 5; t1=$(cpu_ticks "$OTPGATE_PID")
idle_cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b-a)/hz/5*100}')

echo go >&4
wait "$NODE_PID" || true
summary=$(grep '"samples"' "$TMP/node.out" || cat "$TMP/node.out")

# Revocation by another process (the CLI): only polling can see it.
cli_lat=()
for _ in $(seq 1 "$CLI_SAMPLES"); do
  tok=$(token "$port" probe2 probe2-pw)
  timeout 20 node tests/clients/sio.js "http://127.0.0.1:$port" /api/ws/ websocket \
    "{\"accessKeyId\":\"probe2\",\"token\":\"$tok\"}" 15000 >"$TMP/cli.out" &
  cpid=$!
  wait_for "$TMP/cli.out" authe_ok 15
  start=$(date +%s%N)
  OTPGATE_DATA_DIR="$TMP/data" "$BIN" token revoke-all probe2 >/dev/null
  wait_for "$TMP/cli.out" session_revoked 15
  end=$(date +%s%N)
  cli_lat+=("$(( (end - start) / 1000000 ))")
  wait "$cpid" 2>/dev/null || true
done

rss2=$(rss_mib "$OTPGATE_PID")
cli_sorted=$(printf '%s\n' "${cli_lat[@]}" | sort -n | tr '\n' ' ')

echo "== bench/ws.sh: one otpgate instance, SQLite, loopback, $(nproc) cores =="
echo "held:                        $held"
echo "RSS before / holding N:      ${rss0} MiB / ${rss1} MiB  (after the latency runs: ${rss2} MiB)"
echo "server CPU while holding:    ${idle_cpu}% of one core (the 300 ms revocation poll over all sessions)"
echo "logout -> session_revoked:   $summary"
echo "CLI revoke-all -> revoked:   ${cli_sorted}ms (${CLI_SAMPLES} runs; includes the CLI's own start)"

# For bench/run.sh: the same figures as rows of its table.
if [ -n "${BENCH_ROWS_OUT:-}" ]; then
  j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }
  {
    printf 'Socket.IO clients logged in and held (target 10000)\t%s\t(%s s to open)\n' \
      "$(j "$held" "['held']")" "$(j "$held" "['seconds_to_open']")"
    printf '  RSS holding them (target < 300 MB)\t%s MB\t(%s MB before; %s%% of a core while idle)\n' \
      "$rss1" "$rss0" "$idle_cpu"
    printf 'logout -> Socket.IO disconnect p99 (target < 100 ms)\t%s ms\t(p50 %s ms, %s samples, other sockets still connected: %s)\n' \
      "$(j "$summary" "['p99_ms']")" "$(j "$summary" "['p50_ms']")" "$(j "$summary" "['samples']")" "$(j "$summary" "['held_still_connected']")"
  } >"$BENCH_ROWS_OUT"
fi
