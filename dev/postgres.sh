#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the database tests and benchmark:
#   dev/postgres.sh start DIR   initialise and start a cluster in DIR, listening
#                               only on a Unix socket in DIR (no TCP port)
#   dev/postgres.sh stop DIR    stop it and delete DIR
# Connect with host = DIR, user = "postgres", dbname = "postgres". PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres` user
# that Debian's package creates.
set -euo pipefail
action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "postgres.sh: PostgreSQL is not installed" >&2; exit 1; }

as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    as_server "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-k $dir -c listen_addresses=''" start >/dev/null
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "postgres.sh: unknown action $action" >&2; exit 2 ;;
esac
