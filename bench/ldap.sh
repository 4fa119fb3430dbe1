#!/usr/bin/env bash
# Logins through the LDAP password backend (API.md §12) beside local
# logins: Debian's slapd started here in a temporary directory on a
# loopback port (never the system's instance), 32 directory users, and two
# release-built otpgate instances on temporary SQLite stores: one with
# `auth.backend = "ldap"`, one with local argon2id hashes (the default
# cost). For each: logins/s with wrk -c32 (with p99), then the latency of
# one login at a time (-c1, p50): the extra latency of the directory's
# search and bind over a local login is the difference.
# Rows go to BENCH_ROWS_OUT (label TAB value TAB note) when set, for
# bench/run.sh; else they are printed.
#   SECS=8 bench/ldap.sh
source "$(dirname "$0")/common.sh"
SECS=${SECS:-8}
USERS=32
SLAPD=/usr/sbin/slapd
[ -x "$SLAPD" ] && command -v ldapadd >/dev/null ||
  { echo "bench: slapd and ldapadd are required (apt-get install slapd ldap-utils)" >&2; exit 1; }
[ -x "$BIN" ] || build_release

BASE="dc=example,dc=org"; PEOPLE="ou=People,$BASE"
ROOT_DN="cn=admin,$BASE"; ROOT_PW=root-secret
SVC_DN="cn=otpgate,$BASE"; SVC_PW=svc-secret-7
L=$TMP/slapd; mkdir -p "$L/db"
cat >"$L/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $L/slapd.pid
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
database mdb
maxsize 67108864
suffix "$BASE"
rootdn "$ROOT_DN"
rootpw $ROOT_PW
directory $L/db
CONF
LPORT=$(free_port)
"$SLAPD" -f "$L/slapd.conf" -h "ldap://127.0.0.1:$LPORT/" -d 0 >/dev/null 2>&1 &
PIDS+=("$!")
wait_port "$LPORT"
{
  printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$BASE"
  printf 'dn: %s\nobjectClass: organizationalUnit\nou: People\n\n' "$PEOPLE"
  printf 'dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: otpgate\nuserPassword: %s\n\n' "$SVC_DN" "$SVC_PW"
  for i in $(seq 0 $((USERS - 1))); do
    printf 'dn: uid=benchlogin%d,%s\nobjectClass: inetOrgPerson\nuid: benchlogin%d\ncn: Bench %d\nsn: Bench\nmail: benchlogin%d@example.org\nuserPassword: bench-password\n\n' \
      "$i" "$PEOPLE" "$i" "$i" "$i"
  done
} | ldapadd -x -H "ldap://127.0.0.1:$LPORT" -D "$ROOT_DN" -w "$ROOT_PW" >/dev/null

cat >"$TMP/login.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"username":"benchlogin%d","password":"bench-password"}', n % $USERS)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA

# wrk's "99%" (or "50%") latency line, in milliseconds.
wrk_pct() { awk -v p="$1" '$1 == p {v=$2; u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
  f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.1f", v * f}'; }
wrk_rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}'; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses/ {n=$NF} END {print n+0}'; }

# measure NAME PORT: sets NAME_RPS, NAME_P99, NAME_NON2XX, NAME_ONE (p50 of -c1).
measure() {
  local out=$TMP/$1.out
  wrk -t1 -c1 -d2s -s "$TMP/login.lua" "http://127.0.0.1:$2/api/login" >/dev/null # warm-up
  wrk -t1 -c32 -d"${SECS}s" --latency -s "$TMP/login.lua" "http://127.0.0.1:$2/api/login" >"$out"
  printf -v "${1}_RPS" '%s' "$(wrk_rps <"$out")"
  printf -v "${1}_P99" '%s' "$(wrk_pct 99% <"$out")"
  printf -v "${1}_NON2XX" '%s' "$(wrk_non2xx <"$out")"
  wrk -t1 -c1 -d"$((SECS / 2 + 1))s" --latency -s "$TMP/login.lua" "http://127.0.0.1:$2/api/login" >"$out.one"
  printf -v "${1}_ONE" '%s' "$(wrk_pct 50% <"$out.one")"
}

# The per-address login lockout counts attempts in flight (32 at once from
# 127.0.0.1): raised to its maximum, as in bench/run.sh's login rows.
COMMON=(OTPGATE_ARGON2_MEMORY_KIB=19456 OTPGATE_ARGON2_ITERATIONS=2 OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES=100)
PORT=$(free_port)
start_otpgate "$PORT" "${COMMON[@]}" OTPGATE_DATA_DIR="$TMP/ldap-data" \
  OTPGATE_AUTH_BACKEND=ldap OTPGATE_LDAP_URL="ldap://127.0.0.1:$LPORT" OTPGATE_LDAP_STARTTLS=false \
  OTPGATE_LDAP_BIND_DN="$SVC_DN" OTPGATE_LDAP_BIND_PASSWORD="$SVC_PW" OTPGATE_LDAP_USER_BASE_DN="$PEOPLE" \
  OTPGATE_LDAP_DISPLAY_NAME_ATTRIBUTE=cn OTPGATE_LDAP_EMAIL_ATTRIBUTE=mail OTPGATE_LDAP_TIMEOUT_MS=3000
LDAP_PID=$OTPGATE_PID
measure LDAP "$PORT"
kill "$LDAP_PID"

PORT=$(free_port)
start_otpgate "$PORT" "${COMMON[@]}"
for i in $(seq 0 $((USERS - 1))); do
  echo bench-password | OTPGATE_DATA_DIR="$TMP/data" "$BIN" user add "benchlogin$i" --password-stdin >/dev/null
done
measure LOCAL "$PORT"

ROWS_FILE=${BENCH_ROWS_OUT:-/dev/stdout}
{
  printf 'POST /api/login through LDAP (slapd, wrk -c32)\t%s req/s\t(p99 %s ms, non-200: %s)\n' "$LDAP_RPS" "$LDAP_P99" "$LDAP_NON2XX"
  printf '  local logins on the same machine (argon2id, wrk -c32)\t%s req/s\t(p99 %s ms, non-200: %s)\n' "$LOCAL_RPS" "$LOCAL_P99" "$LOCAL_NON2XX"
  printf '  one login at a time, p50: LDAP / local\t%s / %s ms\t(LDAP minus local: %s ms)\n' "$LDAP_ONE" "$LOCAL_ONE" \
    "$(python3 -c "print(f'{$LDAP_ONE-$LOCAL_ONE:+.1f}')")"
} >"$ROWS_FILE"
