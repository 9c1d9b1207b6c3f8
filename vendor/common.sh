# Sourced by vendor/*/build.sh.  deps.mk and debug.mk pass PREFIX (install
# prefix with include/ and lib/), SRC (where sources are unpacked and built)
# and, for debug.mk, VARIANT and SAN (below).
set -eu
# Flags of the calling make (jobserver, command-line variables) must not
# leak into the libraries' own builds.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES CFLAGS CPPFLAGS LDFLAGS LIBS

VENDOR=$(cd "$(dirname "$0")/.." && pwd)
: "${PREFIX:?PREFIX not set (run through vendor/deps.mk)}"
: "${SRC:?SRC not set (run through vendor/deps.mk)}"
DL=$VENDOR/../build/dl
# VARIANT: musl, the static release build (vendor/deps.mk), or debug, the same
# sources built with clang against glibc for sanitizers, fuzzing and Valgrind
# (vendor/debug.mk).  With SAN=1 a debug library is instrumented with ASan,
# UBSan and libFuzzer's coverage; without it, it is plain -g -O1 code that
# Valgrind can run.
VARIANT=${VARIANT:-musl}
case $VARIANT in
musl)
	CC=musl-gcc
	OPT="-O2 -ffunction-sections -fdata-sections"
	;;
debug)
	CC=clang-14
	# DWARF 4: Valgrind 3.19 cannot read clang 14's default DWARF 5
	OPT="-gdwarf-4 -O1 -fno-omit-frame-pointer"
	if [ "${SAN:-0}" = 1 ]; then
		OPT="$OPT -fsanitize=address,undefined,fuzzer-no-link"
		OPT="$OPT -fno-sanitize-recover=undefined"
		# configure's test programs leak by design
		export ASAN_OPTIONS=detect_leaks=0
	fi
	;;
*) echo "common.sh: unknown VARIANT '$VARIANT' (musl or debug)" >&2; exit 1 ;;
esac
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
