#!/usr/bin/env bash
# A PostgreSQL server of the project's own, for shared Optuna studies and the
# postgres-marked tests:
#
#   scripts/local_postgres.sh up      # install Debian's postgresql if missing, start, print the URL
#   scripts/local_postgres.sh url     # the SQLAlchemy URL only
#   scripts/local_postgres.sh status
#   scripts/local_postgres.sh down
#
# Its own data folder ($FIVESTEP_PG_DIR, default /var/lib/fivestep-postgres), separate
# from any cluster Debian set up; it listens on 127.0.0.1 only, port $FIVESTEP_PG_PORT
# (default 55432), with a database and a user `optuna` (password `optuna`, local use
# only). Needs root to install and to run the server as the `postgres` user.
# `up` twice is harmless.
set -euo pipefail

DATA=${FIVESTEP_PG_DIR:-/var/lib/fivestep-postgres}
PORT=${FIVESTEP_PG_PORT:-55432}
DB=optuna
DB_USER=optuna
DB_PASSWORD=optuna
URL="postgresql+psycopg2://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB"

die() { echo "local_postgres: $*" >&2; exit 1; }

bindir() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }

install_packages() {
  if [ -n "$(bindir)" ] && [ -x "$(bindir)/postgres" ] && command -v psql >/dev/null; then
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "installing postgresql needs root"
  echo "local_postgres: installing Debian's postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql >/dev/null
}

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

running() { [ -n "$(bindir)" ] && [ -f "$DATA/postmaster.pid" ] \
  && as_postgres "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -U postgres "$@"; }

up() {
  install_packages
  local bin
  bin=$(bindir)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    chown postgres:postgres "$DATA"
    chmod 0700 "$DATA"
    # local socket: trust for the postgres superuser; TCP: passwords
    as_postgres "$bin/initdb" -D "$DATA" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    cat >>"$DATA/postgresql.conf" <<EOF
# fivestep scripts/local_postgres.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 200
fsync = off  # a test database: speed over durability
synchronous_commit = off
EOF
  fi
  if ! running; then
    as_postgres "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null \
      || die "the server did not start; see $DATA/server.log"
  fi
  if ! psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'" | grep -q 1; then
    psql_admin -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'"
  fi
  if ! psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    psql_admin -c "CREATE DATABASE $DB OWNER $DB_USER"
  fi
  echo "local_postgres: up on 127.0.0.1:$PORT (data in $DATA)"
  echo "$URL"
}

down() {
  if running; then
    as_postgres "$(bindir)/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
  echo "local_postgres: down"
}

status() {
  if running; then
    echo "postgres: running on 127.0.0.1:$PORT (data in $DATA)"
    echo "$URL"
  else
    echo "postgres: stopped"
    return 3
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 up|down|status|url" >&2; exit 2 ;;
esac
