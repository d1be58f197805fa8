#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on a loopback port for the A/B store tests and exports
# PRISM_TEST_DATABASE_URL. Meant to be sourced by .ci/run; the server stops when the CI shell exits.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
PG_PORT=${PG_PORT:-55432}
PG_DIR=$(mktemp -d /tmp/prism-pg.XXXXXX)
chown postgres:postgres "$PG_DIR"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres prism_test
export PRISM_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/prism_test"
trap 'runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true' EXIT
echo "PostgreSQL listening on 127.0.0.1:$PG_PORT"
