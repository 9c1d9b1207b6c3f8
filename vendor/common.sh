# Sourced by vendor/*/build.sh.  deps.mk passes PREFIX (install prefix with
# include/ and lib/) and SRC (where sources are unpacked and built).
set -eu
# Flags of the calling make (jobserver, command-line variables) must not
# leak into the libraries' own builds.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES CFLAGS CPPFLAGS LDFLAGS LIBS

VENDOR=$(cd "$(dirname "$0")/.." && pwd)
: "${PREFIX:?PREFIX not set (run through vendor/deps.mk)}"
: "${SRC:?SRC not set (run through vendor/deps.mk)}"
DL=$VENDOR/../build/dl
CC=musl-gcc
OPT="-O2 -ffunction-sections -fdata-sections"
JOBS=$(nproc)
mkdir -p "$PREFIX/include" "$PREFIX/lib" "$SRC"

# One build of a library at a time: two makes sharing a tree would clobber
# each other's sources (the later one waits, then rebuilds).
exec 8>"$SRC/.$(basename "$(dirname "$0")").lock"
flock 8

log() { echo "== deps: $*" >&2; }

# fetch NAME[/SUITE] and verify it (vendor/fetch.sh).
fetch() { "$VENDOR/fetch.sh" "$@"; }

# unpack FILE DIR: extract a verified tarball from build/dl into a fresh
# $SRC/DIR (the tarball's single top folder is stripped).
unpack() {
	rm -rf "${SRC:?}/$2"
	mkdir -p "$SRC/$2"
	tar -xf "$DL/$1" -C "$SRC/$2" --strip-components=1
	echo "$SRC/$2"
}

# apply PATCH DIR: apply a -p1 patch, failing on any fuzz or reject.
apply() { patch -d "$2" -p1 -F0 -N --no-backup-if-mismatch -s <"$1"; }
