#!/usr/bin/env bash
# Installs what the tests need on a fresh machine that has only the Rust
# toolchain: Debian packages for the end-to-end tests (an independent TOTP
# implementation, a QR decoder, a load tool, openssl for a test CA, node
# with the npm Socket.IO client, Debian's Chromium with the npm
# playwright-core that drives it, HAProxy as a load balancer), a real SMTP server for the e-mail tests
# (Python's aiosmtpd), schemathesis for the generated bad-input campaign
# and a PostgreSQL server that answers on
# 127.0.0.1:5432 with trust authentication.
set -euo pipefail

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v oathtool >/dev/null || need_apt+=(oathtool)
command -v jq >/dev/null || need_apt+=(jq)             # the README walkthrough (tests/e2e/readme.rs)
command -v setpriv >/dev/null || need_apt+=(util-linux) # e2e/cli.rs runs the CLI as nobody
command -v zbarimg >/dev/null || need_apt+=(zbar-tools)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v pg_isready >/dev/null || need_apt+=(postgresql-client)
command -v openssl >/dev/null || need_apt+=(openssl)
[ -x /usr/sbin/slapd ] || need_apt+=(slapd)         # a throwaway directory per LDAP test (tests/e2e/ldap.rs)
command -v ldapadd >/dev/null || need_apt+=(ldap-utils)
[ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)     # two instances behind a real balancer (tests/e2e/balancer.rs, bench/balancer.sh)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)

# Other jobs on the machine may hold apt's or dpkg's lock: wait for it
# (Lock::Timeout), and retry a few times if apt still gives up.
apt_retry() {
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if apt-get -o DPkg::Lock::Timeout=120 "$@"; then
      return 0
    fi
    echo "ci: apt-get $1 failed (attempt $attempt), retrying"
    sleep 10
  done
  apt-get -o DPkg::Lock::Timeout=120 "$@"
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt_retry update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt_retry install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "ci: installing ${need_apt[*]}"
  apt_install "${need_apt[@]}"
fi

# cargo-fuzz for fuzz/run.sh (libFuzzer; works on stable through
# RUSTC_BOOTSTRAP, see fuzz/run.sh).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "ci: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# aiosmtpd for the SMTP end-to-end tests, into whichever python3 is first
# on PATH: pip (a pyenv or venv Python), else pip past Debian's
# externally-managed marker, else Debian's package (for /usr/bin/python3).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "ci: installing aiosmtpd"
  python3 -m pip install -q aiosmtpd 2>/dev/null \
    || python3 -m pip install -q --break-system-packages aiosmtpd 2>/dev/null \
    || apt_install python3-aiosmtpd
  python3 -c 'import aiosmtpd'
fi

# schemathesis (PyPI) for the generated bad-input campaign against the
# server's OpenAPI document (tests/schemathesis/run.sh), the same way.
if ! command -v schemathesis >/dev/null; then
  echo "ci: installing schemathesis"
  python3 -m pip install -q schemathesis 2>/dev/null \
    || python3 -m pip install -q --break-system-packages schemathesis
  command -v schemathesis >/dev/null || hash -r
  schemathesis --version >/dev/null
fi

# The real Socket.IO client the end-to-end tests and bench/ws.sh drive
# (npm socket.io-client, and the socket.io server the relay test uses as
# the upstream; pinned by tests/clients/package-lock.json).
if [ ! -f tests/clients/node_modules/socket.io-client/package.json ] \
  || [ ! -f tests/clients/node_modules/socket.io/package.json ]; then
  echo "ci: npm ci in tests/clients"
  (cd tests/clients && npm ci --no-audit --no-fund >/dev/null)
fi

# The browser test's driver (npm playwright-core, pinned by
# tests/browser/package-lock.json; it drives /usr/bin/chromium and never
# downloads a browser of its own).
if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
  echo "ci: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
fi

# PostgreSQL: use the one on 127.0.0.1:5432 if it answers; otherwise install
# Debian's, start it and let local TCP connections in without a password.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "ci: installing postgresql"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
fi
pg_isready -h 127.0.0.1 -p 5432
