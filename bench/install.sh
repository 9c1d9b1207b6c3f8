#!/bin/sh
# What `make bench` needs on Debian 12 besides the test suite's packages (tests/install.sh):
# wrk (LuaJIT inside), nginx-light, gnuplot-nox; pgbench ships in postgresql-15.
# Idempotent: apt-get runs only when something is missing.
set -eu

PACKAGES="wrk nginx-light postgresql-15 gnuplot-nox python3-bcrypt python3-psycopg2 binutils"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/install.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "bench/install.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
