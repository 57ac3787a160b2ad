#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, the benches and a developer: a cluster of its own in a
# directory, on a free loopback port, run as a non-root user, trust authentication on loopback only.
#
#   bash .ci/postgres.sh install        # the Debian packages, when the binaries are missing (needs root)
#   bash .ci/postgres.sh start DIR      # initdb DIR on first use, start; prints the URL on stdout
#   bash .ci/postgres.sh stop DIR       # fast shutdown; DIR is kept, `start DIR` brings it back on its port
#
# `eval "$(bash .ci/postgres.sh env DIR)"` starts it and exports DVT_CDS_TEST_DATABASE_URL.
set -euo pipefail

# The server binaries of the newest installed major version (Debian keeps them off the PATH).
bindir() {
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$newest" ]; then
        echo "PostgreSQL is not installed: run 'bash .ci/postgres.sh install' (Debian: apt-get install postgresql)" >&2
        exit 1
    fi
    echo "$newest"
}

# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url_of() {
    local port
    port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$1/pgdata/postgresql.auto.conf" | tail -n 1)
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

start() {
    local dir bin
    dir=$(realpath -m "$1")
    bin=$(bindir)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
    fi
    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        as_owner "$bin/initdb" --pgdata "$dir/pgdata" --username postgres --auth trust --encoding UTF8 \
            --locale C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        # Loopback TCP only; the socket in the cluster's own directory, so it meets no system cluster.
        as_owner tee -a "$dir/pgdata/postgresql.auto.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
port = $(free_port)
EOF
    fi
    if ! as_owner "$bin/pg_ctl" --pgdata "$dir/pgdata" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" --pgdata "$dir/pgdata" --log "$dir/server.log" --wait --timeout 60 start >/dev/null \
            || { cat "$dir/server.log" >&2; exit 1; }
    fi
    url_of "$dir"
}

stop() {
    local dir
    dir=$(realpath -m "$1")
    as_owner "$(bindir)/pg_ctl" --pgdata "$dir/pgdata" --mode fast --wait stop >/dev/null
}

case "${1:-}" in
    install)
        if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
            apt-get update
            DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
        fi
        bindir >/dev/null
        ;;
    start) start "${2:?usage: postgres.sh start DIR}" ;;
    stop) stop "${2:?usage: postgres.sh stop DIR}" ;;
    env) echo "export DVT_CDS_TEST_DATABASE_URL=$(start "${2:?usage: postgres.sh env DIR}")" ;;
    *)
        echo "usage: postgres.sh install | start DIR | stop DIR | env DIR" >&2
        exit 2
        ;;
esac
