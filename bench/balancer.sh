#!/usr/bin/env bash
# Two otpgate instances on one PostgreSQL database behind a real HAProxy
# (Debian's /usr/sbin/haproxy, started here with a configuration of its
# own on loopback ports): round-robin for the API, Socket.IO sticky by
# client address (as README's "Several instances" example). Measures,
# through the balancer: GET /api/user/me and verify-otp with correct codes
# (with p99); the cross-instance revocation latency (logout on instance
# A, then the time until instance B refuses the token, p50/p99 over
# SAMPLES); and that the rules hold: 50 concurrent wrong codes for one
# user give exactly the lockout threshold of evaluations (the rest 429),
# and 50 concurrent uses of one correct code exactly one success.
# Needs OTPGATE_BENCH_PG_URL or OTPGATE_TEST_PG_URL, psql and haproxy.
# Rows go to BENCH_ROWS_OUT (label TAB value TAB note) when set, for
# bench/run.sh; else they are printed.
#   SECS=8 SAMPLES=200 bench/balancer.sh
source "$(dirname "$0")/common.sh"
SECS=${SECS:-8}
SAMPLES=${SAMPLES:-200}
PG_URL=${OTPGATE_BENCH_PG_URL:-${OTPGATE_TEST_PG_URL:-}}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
[ -n "$PG_URL" ] || { echo "bench: set OTPGATE_BENCH_PG_URL=postgres://..." >&2; exit 1; }
[ -x "$HAPROXY" ] || { echo "bench: haproxy is required (apt-get install haproxy)" >&2; exit 1; }
[ -x "$BIN" ] && [ -x "$LG" ] || build_release_bins

pg_db "otpgate_bench_lb_$$"
mkdir -p "$TMP/data"
USERS=${BENCH_LB_VERIFY_USERS:-$((SECS * 4000))}
echo "bench: balancer (seeding $USERS users on PostgreSQL)" >&2
"$LG" seed --data-dir "$TMP/data" --db "$DBURL" --users "$USERS" --out "$TMP/users.tsv" >/dev/null

# Both instances: the same store and key files; the balancer's address
# trusted for X-Forwarded-For.
INST=(OTPGATE_DATABASE_URL="$DBURL" OTPGATE_TRUSTED_PROXIES=127.0.0.1 OTPGATE_CONNECTIONS_MAX_PER_ADDRESS=0)
PORT_A=$(free_port); start_otpgate "$PORT_A" "${INST[@]}"
PORT_B=$(free_port); start_otpgate "$PORT_B" "${INST[@]}"
LB=$(free_port)
cat >"$TMP/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option http-keep-alive
    option forwardfor
frontend otpgate
    bind 127.0.0.1:$LB
    use_backend otpgate_sio if { path_beg /socket.io/ } || { path_beg /api/ws/ }
    default_backend otpgate
backend otpgate
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    server a 127.0.0.1:$PORT_A check
    server b 127.0.0.1:$PORT_B check
backend otpgate_sio
    balance source
    hash-type consistent
    option httpchk GET /readyz
    http-check expect status 200
    server a 127.0.0.1:$PORT_A check
    server b 127.0.0.1:$PORT_B check
CFG
"$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.out" 2>&1 &
PIDS+=("$!")
wait_port "$LB"

# A user on the PostgreSQL store (common.sh's add_user is for SQLite).
echo bench-password-9 | OTPGATE_DATA_DIR="$TMP/data" OTPGATE_DATABASE_URL="$DBURL" OTPGATE_ARGON2_MEMORY_KIB=1024 \
  OTPGATE_ARGON2_ITERATIONS=1 "$BIN" user add benchuser2 --password-stdin >/dev/null
TOKEN=$(token "$LB" benchuser2 bench-password-9)

wrk_pct() { awk -v p="$1" '$1 == p {v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.1f", v * f}'; }

wrk -t2 -c64 -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$LB/api/user/me" >"$TMP/me.out"
ME_RPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$TMP/me.out")
ME_P99=$(wrk_pct 99% <"$TMP/me.out")
ME_BAD=$(awk '/Non-2xx or 3xx responses/ {n=$NF} END {print n+0}' "$TMP/me.out")
# The last 1,000 seeded users are kept for the races.
head -n $((USERS - 1000)) "$TMP/users.tsv" >"$TMP/verify.tsv"
tail -n 1000 "$TMP/users.tsv" >"$TMP/spare.tsv"
V=$("$LG" verify --urls "http://127.0.0.1:$LB" --input "$TMP/verify.tsv" --concurrency 64 --seconds "$SECS")

# Revocation latency and the races, in Python (one keep-alive connection
# per instance; the races on 50 connections released at once).
RULES=$(python3 - "$PORT_A" "$PORT_B" "$LB" "$SAMPLES" "$TMP/spare.tsv" <<'PY'
import base64, hashlib, hmac, http.client, json, struct, sys, threading, time
a, b, lb, samples, spare = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def req(conn, method, path, token=None, body=None):
    h = {"content-type": "application/json"}
    if token: h["authorization"] = "Bearer " + token
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    r = conn.getresponse(); data = r.read()
    return r.status, data

ca, cb = http.client.HTTPConnection("127.0.0.1", a), http.client.HTTPConnection("127.0.0.1", b)
lat = []
for _ in range(samples):
    s, d = req(ca, "POST", "/api/login", body={"username": "benchuser2", "password": "bench-password-9"})
    assert s == 200, (s, d)
    tok = json.loads(d)["token"]
    s, _ = req(cb, "GET", "/api/user/me", tok); assert s == 200, s   # B knows the token
    s, _ = req(ca, "POST", "/api/logout", tok); assert s in (200, 204), s
    t0 = time.perf_counter()
    while req(cb, "GET", "/api/user/me", tok)[0] == 200:
        if time.perf_counter() - t0 > 5: raise SystemExit("B still accepts a revoked token after 5 s")
    lat.append((time.perf_counter() - t0) * 1000)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]

def totp(secret, at):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)

def race(user, token, code, n=50):
    out, go = [], threading.Barrier(n)
    def one():
        c = http.client.HTTPConnection("127.0.0.1", lb)
        c.connect(); go.wait()
        out.append(req(c, "POST", "/api/2fa/verify-otp", token, {"username": user, "otp": code})[0])
    ts = [threading.Thread(target=one) for _ in range(n)]
    [t.start() for t in ts]; [t.join() for t in ts]
    return ", ".join(f"{out.count(s)} x {s}" for s in sorted(set(out)))

rows = [l.rstrip("\n").split("\t") for l in open(spare)]
(u1, s1, t1), (u2, s2, t2) = rows[0], rows[1]
now = time.time()
near = {totp(s1, now + k * 30) for k in range(-3, 4)}
wrong = next(c for c in ("%06d" % i for i in range(100000, 999999)) if c not in near)
print(json.dumps({"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1],
                  "wrong": race(u1, t1, wrong), "right": race(u2, t2, totp(s2, time.time()))}))
PY
)
ROWS_FILE=${BENCH_ROWS_OUT:-/dev/stdout}
{
  printf 'HAProxy + 2 instances, one PostgreSQL: GET /api/user/me\t%s req/s\t(p99 %s ms, non-200: %s; wrk -t2 -c64)\n' "$ME_RPS" "$ME_P99" "$ME_BAD"
  printf 'HAProxy + 2 instances: verify-otp, correct codes\t%.0f ok/s\t(p99 %s ms, failures %s)\n' "$(json "$V" "['ok_per_sec']")" "$(json "$V" "['p99_ms']")" "$(json "$V" "['other']")"
  printf '  logout on A until B refuses the token (%s samples)\tp99 %.1f ms\t(p50 %.1f, max %.1f ms)\n' "$SAMPLES" "$(json "$RULES" "['p99']")" "$(json "$RULES" "['p50']")" "$(json "$RULES" "['max']")"
  printf '  50 wrong codes at once through the balancer, answers\t%s\t(lockout threshold 5: expected 5 x 400, 45 x 429)\n' "$(json "$RULES" "['wrong']")"
  printf '  50 uses of one right code at once, answers\t%s\t(expected exactly 1 x 200)\n' "$(json "$RULES" "['right']")"
} >"$ROWS_FILE"
