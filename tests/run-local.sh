#!/bin/sh
# `make run`: a throwaway PostgreSQL in a temporary folder on loopback, and droplin against it in
# development mode on 127.0.0.1 only. It chooses the admin and signing secrets for this run and,
# once droplin is ready, prints the URL, the admin secret and a three-line curl tour.
# Ctrl-C stops both and removes the folder. PORT and PGPORT_RUN choose the ports.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/droplin-run.XXXXXX)
chmod 755 "$dir" # the data folder inside belongs to postgres, which must reach it
pgport=${PGPORT_RUN:-55432}
port=${PORT:-8080}
url=http://127.0.0.1:$port
cleanup() {
	trap - EXIT INT TERM
	# Ctrl-C reached droplin too (it drains); this second signal makes it exit at once
	if [ -n "${pid:-}" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	sh "$here/pg.sh" stop "$dir/pg" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
admin=$(secret)
sh "$here/pg.sh" start "$dir/pg" "$pgport" >/dev/null
echo "PostgreSQL: postgresql://droplin:droplin@127.0.0.1:$pgport/postgres (data in $dir)"
DROPLIN_ENV=development HOST=127.0.0.1 PORT=$port \
	DATABASE_URL="postgresql://droplin:droplin@127.0.0.1:$pgport/postgres" \
	ADMIN_SECRET=$admin JWT_SECRET_KEY=$(secret) "$here/../droplin" &
pid=$!
tries=0
until curl -fso /dev/null --max-time 1 "$url/ready"; do
	kill -0 "$pid" 2>/dev/null || break
	tries=$((tries + 1))
	if [ "$tries" -ge 120 ]; then
		echo "droplin is not ready after 60 s; its log is above" >&2
		break
	fi
	sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
	cat <<-MSG

		droplin:    $url   (development; only this machine can reach it; Ctrl-C stops both)
		API:        $url/docs
		admin:      secret: $admin   (this run only; the header of the /admin routes)
		            curl -s -H 'secret: $admin' $url/admin/stats
		Try it:
		  TOKEN=\$(curl -s $url/auth/register -H 'Content-Type: application/json' -d '{"username":"alice","password":"Sunny-Day7!"}' | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
		  curl -s $url/user/profile -H "Authorization: Bearer \$TOKEN"
		  curl -s $url/health

	MSG
fi
wait "$pid"
