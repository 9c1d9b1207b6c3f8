#!/bin/sh
# `make run`: a throwaway PostgreSQL in a temporary folder on loopback, and droplin against it
# in development mode. Ctrl-C stops both and removes the folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/droplin-run.XXXXXX)
chmod 755 "$dir" # the data folder inside belongs to postgres, which must reach it
pgport=${PGPORT_RUN:-55432}
port=${PORT:-8080}
cleanup() {
	trap - EXIT INT TERM
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	sh "$here/pg.sh" stop "$dir/pg" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
sh "$here/pg.sh" start "$dir/pg" "$pgport" >/dev/null
echo "PostgreSQL: postgresql://droplin:droplin@127.0.0.1:$pgport/postgres (data in $dir)"
echo "droplin:    http://127.0.0.1:$port   (try /health, /ready; Ctrl-C stops both)"
DROPLIN_ENV=development \
DATABASE_URL="postgresql://droplin:droplin@127.0.0.1:$pgport/postgres" \
PORT=$port "$here/../droplin" &
pid=$!
wait "$pid"
