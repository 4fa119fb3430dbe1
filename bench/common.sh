# Shared by bench/*.sh: build the release binaries, start otpgate on a
# temporary store (SQLite, or a throwaway PostgreSQL database) on
# loopback, seed users, and clean up on exit. Sourced, not run: each
# script keeps only what it measures and how it prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$TARGET/release/otpgate
LG=$TARGET/release/otpgate-loadgen

build_release() {
  echo "bench: cargo build --release (first time: several minutes)" >&2
  cargo build --release -q
}

# build_release_bins: the server and the load generator, quietly.
build_release_bins() {
  cargo build --release -q -p otpgate -p otpgate-loadgen
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

TMP=$(mktemp -d /tmp/otpgate-bench.XXXXXX)
PIDS=()
PG_DBS=()
PG_URL=${PG_URL:-}
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${PG_DBS[@]:-}"; do
    [ -n "$db" ] && psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# pg_db NAME: creates database NAME on $PG_URL's server (dropped on exit)
# and sets DBURL to it.
pg_db() {
  psql -q "$PG_URL" -c "CREATE DATABASE $1" >/dev/null
  PG_DBS+=("$1")
  DBURL=$(python3 -c "import sys; u=sys.argv[1]; print(u.rsplit('/',1)[0]+'/'+sys.argv[2])" "$PG_URL" "$1")
}

# json JSON EXPR: a field of a JSON text, e.g. json "$OUT" "['per_sec']".
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }

# start_server_in BIN DIR PORT SUFFIX [VAR=value ...]: `BIN serve` in DIR
# (so its data directory is DIR/otpgate-data), no global rate limit, its
# output in DIR/stdout$SUFFIX and DIR/stderr$SUFFIX; waits for /healthz
# (polling every POLL seconds, default 0.005), then sets SERVER_PID and
# START_MS (the time from start to healthy).
start_server_in() {
  local bin=$1 dir=$2 port=$3 suffix=$4; shift 4
  mkdir -p "$dir"
  local t0; t0=$(date +%s%N)
  (cd "$dir" && exec env OTPGATE_LISTEN=127.0.0.1:$port OTPGATE_RATE_LIMIT_AVERAGE=0 OTPGATE_LOG=warn "$@" \
    "$bin" serve >"$dir/stdout$suffix" 2>"$dir/stderr$suffix") &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/stderr$suffix"; exit 1; }
    sleep "${POLL:-0.005}"
  done
  START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# bench_user BIN DIR NAME [VAR=value ...]: adds NAME (password
# "bench-password") with `BIN user add` in DIR, on the store the
# variables name (DIR/otpgate-data by default).
bench_user() {
  local bin=$1 dir=$2 name=$3; shift 3
  (cd "$dir" && echo "bench-password" | env "$@" "$bin" user add "$name" --password-stdin >/dev/null)
}

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
