#!/bin/sh
# vendor/selftest.sh: check the built dependencies end to end (as root).
# Builds vendor/selftest.c statically against $(DEPS_LIBS), starts a
# throwaway PostgreSQL cluster (scram-sha-256 on 127.0.0.1) and an
# `openssl s_server` with a throwaway CA, and runs it.  Needs postgresql-15
# and openssl installed.  Usage (from the repo root, after the deps build):
#   vendor/selftest.sh "$(DEPS_DIR)" "$(DEPS_LIBS)"
set -eu
deps=$1 libs=$2
vendor=$(cd "$(dirname "$0")" && pwd)
pgbin=/usr/lib/postgresql/15/bin
t=$(mktemp -d /tmp/droplin-selftest.XXXXXX)
chmod 755 "$t"
pgport=55499 tlsport=55498
server=

cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	[ -d "$t/pg" ] && su postgres -c "$pgbin/pg_ctl -D $t/pg -m immediate stop" \
		>/dev/null 2>&1
	rm -rf "$t"
}
trap cleanup EXIT INT TERM

# A test CA, a server certificate for droplin.test, and their anchors.
cd "$t"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -days 2 -subj /CN=droplin-selftest-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout srv.key -out srv.csr -subj /CN=droplin.test 2>/dev/null
printf 'subjectAltName=DNS:droplin.test\nextendedKeyUsage=serverAuth\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-days 2 -extfile ext -out srv.pem 2>/dev/null
"$vendor/bearssl/ca-anchors.sh" "$OLDPWD/$deps/bin/brssl" ca.pem anchors.h
openssl s_server -quiet -accept "127.0.0.1:$tlsport" -cert srv.pem \
	-key srv.key -www </dev/null >/dev/null 2>&1 &
server=$!

# A throwaway cluster with password (SCRAM) authentication over TCP.
echo selftest-pw >pw
chown -R postgres "$t"
su postgres -c "$pgbin/initdb -D $t/pg -U postgres --pwfile=$t/pw \
	--auth-local=trust --auth-host=scram-sha-256" >/dev/null
su postgres -c "$pgbin/pg_ctl -D $t/pg -l $t/pg.log -w -o \
	'-p $pgport -k $t -c listen_addresses=127.0.0.1' start" >/dev/null

cd "$OLDPWD"
# shellcheck disable=SC2086
musl-gcc -static -O2 -Wall -Wextra -isystem "$deps/include" \
	-DSELFTEST_ANCHORS="\"$t/anchors.h\"" -ffunction-sections \
	-fdata-sections -Wl,--gc-sections "$vendor/selftest.c" $libs \
	-o "$t/selftest"
file "$t/selftest" | sed 's/^[^:]*: /selftest: /'
strip -o "$t/selftest.stripped" "$t/selftest"
echo "stripped size: $(wc -c <"$t/selftest.stripped") bytes"
"$t/selftest" "host=127.0.0.1 port=$pgport user=postgres password=selftest-pw \
dbname=postgres sslmode=disable" "https://droplin.test:$tlsport/" \
	"droplin.test:$tlsport:127.0.0.1"
