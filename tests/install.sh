#!/bin/sh
# Install what `make run` or the test suites need on a fresh Debian 12, and nothing when it is all
# there. Idempotent and fast: `apt-get update` runs only when something is missing.
#
#   tests/install.sh [run|test]     run: what `make run` needs (PostgreSQL, curl); test (the
#                                   default): that plus the black-box suite's tools
#   tests/install.sh --print SET    print the set's packages, one a line, and install nothing
#
# The build tools come from vendor/tools.sh (make runs it for the first build). chromium
# (headless, for tests/blackbox/test_browser.py) is the big one of the test set: about 25 s and
# 350 MB with its dependencies on a fresh bookworm.
set -eu

RUN_PACKAGES="postgresql-15 curl util-linux coreutils"
TEST_PACKAGES="$RUN_PACKAGES python3 python3-pytest python3-requests python3-psycopg2
python3-pytest-xdist python3-jwt python3-bcrypt openssl chromium python3-websocket
python3-jsonschema haproxy pgbouncer libfaketime"

print=0
if [ "${1:-}" = --print ]; then
	print=1
	shift
fi
case ${1:-test} in
run) PACKAGES=$RUN_PACKAGES ;;
test) PACKAGES=$TEST_PACKAGES ;;
*)
	echo "usage: install.sh [--print] [run|test]" >&2
	exit 2
	;;
esac
if [ "$print" -eq 1 ]; then
	printf '%s\n' $PACKAGES
	exit 0
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "install.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
