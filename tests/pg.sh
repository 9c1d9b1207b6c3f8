#!/bin/sh
# A throwaway PostgreSQL 15 cluster for tests and `make run`.
#
#   tests/pg.sh start DIR PORT   create the cluster in DIR (first time) and start it on
#                                127.0.0.1:PORT, unix socket in DIR
#   tests/pg.sh stop DIR [MODE]  stop it (MODE: fast (default) or immediate); data stays in DIR
#   tests/pg.sh status DIR       exit 0 when it runs
#   tests/pg.sh url DIR [DB]     print postgresql://droplin:droplin@127.0.0.1:PORT/DB
#
# Superuser `droplin`, password `droplin` (SCRAM); host connections need the password, the unix
# socket trusts local users. fsync is off: the data is not meant to survive a machine crash, but
# commits stay synchronous, so a crash of PostgreSQL itself (stop immediate) loses nothing.
# As root, everything runs as the `postgres` system user (initdb refuses root): DIR is chowned to
# it, so DIR's parent directories must be searchable by that user (/tmp is; pytest's
# /tmp/pytest-of-root is not).
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_OS=${PGUSER_OS:-postgres}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	die "usage: pg.sh start DIR PORT | stop DIR [fast|immediate] | status DIR | url DIR [DB]"
}

# Run a command as the cluster owner: the postgres system user when we are root.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PGUSER_OS" -- "$@"
	else
		"$@"
	fi
}

abspath() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$(abspath "$2")
data=$dir/data
[ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl not found (run tests/install.sh)"

case $cmd in
start)
	[ $# -eq 3 ] || usage
	port=$3
	case $port in '' | *[!0-9]*) die "bad port: $port" ;; esac
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PGUSER_OS" "$dir"
		chmod 700 "$dir"
		as_owner test -w "$dir" ||
			die "$dir is not reachable for user $PGUSER_OS (a parent directory is not searchable)"
	fi
	if as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		echo "pg.sh: already running in $dir" >&2
		exit 0
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		pwfile=$dir/.pw
		printf 'droplin\n' >"$pwfile"
		[ "$(id -u)" -ne 0 ] || chown "$PGUSER_OS" "$pwfile"
		as_owner "$PGBIN/initdb" -D "$data" -U droplin --pwfile="$pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 \
			--encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
			{
				cat "$dir/initdb.log" >&2
				die "initdb failed"
			}
		rm -f "$pwfile"
		cat >>"$data/postgresql.conf" <<-EOF

			# tests/pg.sh
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir'
			max_connections = 300
			shared_buffers = 32MB
			password_encryption = 'scram-sha-256'
			fsync = off
			full_page_writes = off
			logging_collector = off
			log_min_messages = warning
			log_timezone = 'UTC'
			timezone = 'UTC'
		EOF
		# Host connections (IPv4 and IPv6 loopback) must authenticate with SCRAM.
		cat >"$data/pg_hba.conf" <<-EOF
			local all all trust
			host all all 127.0.0.1/32 scram-sha-256
			host all all ::1/128 scram-sha-256
		EOF
	fi
	# The port can change between starts; the command line wins over postgresql.conf.
	as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
		-o "-p $port -k $dir" start >/dev/null ||
		{
			tail -n 20 "$dir/postgres.log" >&2 || true
			die "could not start PostgreSQL in $dir on port $port"
		}
	printf '%s\n' "$port" >"$dir/port"
	;;
stop)
	mode=${3:-fast}
	case $mode in fast | immediate | smart) ;; *) usage ;; esac
	if [ -f "$data/postmaster.pid" ]; then
		as_owner "$PGBIN/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null
	fi
	;;
status)
	as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
	;;
url)
	[ -f "$dir/port" ] || die "no cluster started in $dir"
	printf 'postgresql://droplin:droplin@127.0.0.1:%s/%s\n' "$(cat "$dir/port")" "${3:-postgres}"
	;;
*)
	usage
	;;
esac
