# Shared by bench/*.sh: build the release binary, start otpgate on a
# temporary store on loopback, and clean up on exit. Sourced, not run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/otpgate"

build_release() {
  echo "bench: cargo build --release (first time: several minutes)" >&2
  cargo build --release -q
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# start_otpgate PORT [VAR=value ...]: otpgate serve on a fresh data dir,
# no global rate limit (every client is 127.0.0.1), cheap argon2 so that
# logins do not dominate the figures.
start_otpgate() {
  local port=$1; shift
  env OTPGATE_LISTEN="127.0.0.1:$port" OTPGATE_DATA_DIR="$TMP/data" \
    OTPGATE_RATE_LIMIT_AVERAGE=0 OTPGATE_LOG=warn \
    OTPGATE_ARGON2_MEMORY_KIB=1024 OTPGATE_ARGON2_ITERATIONS=1 \
    "$@" "$BIN" serve >"$TMP/otpgate.out" 2>"$TMP/otpgate.err" &
  OTPGATE_PID=$!
  PIDS+=("$OTPGATE_PID")
  wait_port "$port"
}

# add_user NAME PASSWORD (through the CLI, on the same store)
add_user() {
  echo "$2" | OTPGATE_DATA_DIR="$TMP/data" OTPGATE_ARGON2_MEMORY_KIB=1024 OTPGATE_ARGON2_ITERATIONS=1 \
    "$BIN" user add "$1" --password-stdin >/dev/null
}

# token PORT NAME PASSWORD
token() {
  curl -s -X POST "http://127.0.0.1:$1/api/login" -d "{\"username\":\"$2\",\"password\":\"$3\"}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}

rss_mib() {
  awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"
}

cpu_ticks() {
  awk '{print $14+$15}' "/proc/$1/stat"
}

need_node_client() {
  if [ ! -f tests/clients/node_modules/socket.io-client/package.json ]; then
    echo "bench: run (cd tests/clients && npm ci) first" >&2
    exit 1
  fi
}

# wait_for FILE PATTERN SECONDS: until PATTERN shows in FILE, or fail.
wait_for() {
  local deadline=$(( $(date +%s) + $3 ))
  until grep -q "$2" "$1" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "bench: no $2 within $3 s" >&2
      cat "$1" >&2 || true
      return 1
    fi
    sleep 0.005
  done
}
