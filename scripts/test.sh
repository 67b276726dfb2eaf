#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or CI: installs and starts PostgreSQL and
# MariaDB when they are missing, exports their URLs, then runs fmt, clippy and every test.
# Tests that need a database fail (never skip) when it is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() { # apt_install <package>...
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
need_pkg() { # need_pkg <command> <package>...
  command -v "$1" >/dev/null 2>&1 && return 0
  shift
  apt_install "$@"
}
need_pymod() { # need_pymod <python3 module> <package>...
  python3 -c "import $1" >/dev/null 2>&1 && return 0
  shift
  apt_install "$@"
}

need_pkg pg_ctlcluster postgresql
need_pkg mariadbd mariadb-server
need_pkg mariadb mariadb-client
need_pkg psql postgresql-client
need_pkg node nodejs
need_pkg npm npm
need_pkg tmux tmux
need_pkg setpriv util-linux
need_pkg /usr/bin/python3 python3
need_pymod ensurepip python3-venv # python3 -m venv, for the simple-salesforce check

# --- PostgreSQL ------------------------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
if ! psql "$PG_URL" -Atqc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster wants a password over TCP: give the superuser one.
  log "setting a password for the postgres superuser (TCP logins)"
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  PG_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
fi
psql "$PG_URL" -Atqc 'select 1' >/dev/null

# --- MariaDB ---------------------------------------------------------------------------
if ! mariadb-admin ping -h 127.0.0.1 -uroot --silent >/dev/null 2>&1 \
   && ! mariadb-admin ping --silent >/dev/null 2>&1; then
  log "starting MariaDB"
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 60); do mariadb-admin ping --silent >/dev/null 2>&1 && break; sleep 0.5; done
fi
if ! mariadb -h 127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; then
  # Debian's root@localhost uses unix_socket auth: allow the empty password over TCP too.
  log "allowing root over TCP with an empty password (test machine only)"
  as_root mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
fi
mariadb -h 127.0.0.1 -uroot -e 'select 1' >/dev/null
MYSQL_URL="mysql://root@127.0.0.1:3306/mysql"

export DATENATOR_TEST_POSTGRES_URL="${DATENATOR_TEST_POSTGRES_URL:-$PG_URL}"
export DATENATOR_TEST_MYSQL_URL="${DATENATOR_TEST_MYSQL_URL:-$MYSQL_URL}"
export DATENATOR_TEST_REQUIRE_DATABASES=1

# --- Rust ------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo clippy (with the daemon's demo feature)"
cargo clippy --workspace --all-targets --locked --features datenatord/demo -- -D warnings
# The end-to-end tests start the demo too: the daemon is built with its demo feature here,
# and the test build keeps the same features so it does not rebuild the daemon without it.
log "building the binaries the end-to-end tests start"
cargo build --workspace --bins --locked --features datenatord/demo
log "cargo test"
cargo test --workspace --locked --no-fail-fast --features datenatord/demo

# --- A real Salesforce client against the simulator ------------------------------------
if [ -x sfsim/jsforce-check/run.sh ]; then
  log "jsforce against sfsim"
  sfsim/jsforce-check/run.sh
fi
if [ -x sfsim/pyclient-check/run.sh ]; then
  log "simple-salesforce against sfsim"
  sfsim/pyclient-check/run.sh
fi
log "all tests passed"
