#!/bin/sh
# Install what the black-box suite needs on a fresh Debian 12, and nothing when it is all there.
# Idempotent and fast: `apt-get update` runs only when something is missing.
# chromium (headless, for tests/blackbox/test_browser.py) is the big one: about 25 s and
# 350 MB with its dependencies on a fresh bookworm.
set -eu

PACKAGES="postgresql-15 python3 python3-pytest python3-requests python3-psycopg2
python3-pytest-xdist python3-jwt python3-bcrypt openssl curl util-linux coreutils
chromium python3-websocket python3-jsonschema haproxy pgbouncer"

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
