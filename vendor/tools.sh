#!/bin/sh
# Install the Debian packages the dependency builds need, only when missing.
# `tools.sh debug` adds what the debug variant (vendor/debug.mk) needs: clang
# with the sanitizer and libFuzzer runtimes, llvm-symbolizer, Valgrind.
set -eu
PKGS="musl-tools musl-dev gcc make patch xz-utils bzip2 ca-certificates
autoconf automake libtool pkg-config file"
[ "${1:-}" = debug ] && PKGS="$PKGS clang-14 libclang-rt-14-dev llvm-14 valgrind"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "== deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing ||
	{ apt-get update && apt-get install -y --no-install-recommends $missing; }
