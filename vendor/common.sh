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

# fetch NAME[/SUITE] and verify it (vendor/fetch.sh): the pinned version, or the archive's
# current one when the pinned version is gone. build/dl/NAME.use names the files to use.
fetch() { "$VENDOR/fetch.sh" "$@"; }

# src PACKAGE KIND: the file of PACKAGE's fetched version of that KIND (orig: the upstream
# tarball, debian: Debian's tarball, dsc), from build/dl/PACKAGE.use.
src() {
	f=$(awk -v k="$2" 'NR > 1 { n = $2; sub(/\.asc$/, "", n)
		if ((k == "orig" && n ~ /\.orig\.tar\./) || (k == "debian" && n ~ /\.debian\.tar\./) ||
		    (k == "dsc" && n ~ /\.dsc$/)) { print $2; exit } }' "$DL/$1.use")
	[ -n "$f" ] || { echo "deps: $1: no $2 file in build/dl/$1.use" >&2; exit 1; }
	echo "$f"
}

# version PACKAGE: the Debian version fetched (pinned or current).
version() { sed -n '1s/^# [^ ]* \([^ ]*\).*/\1/p' "$DL/$1.use"; }

# installed PACKAGE DIR: record what was built: build/dl/PACKAGE.use (version and files) and
# the notice file vendor/pins names, from the unpacked source DIR, under $PREFIX/share/droplin/
# (vendor/sbom.sh makes droplin's version strings, SBOM and /licenses from them).
installed() {
	notice=$(awk -v p="$1" '$1 == p { print $5 }' "$VENDOR/pins")
	[ -f "$2/$notice" ] || { echo "deps: $1: no notice file $notice in its source" >&2; exit 1; }
	mkdir -p "$PREFIX/share/droplin/sources" "$PREFIX/share/droplin/licenses"
	cp "$DL/$1.use" "$PREFIX/share/droplin/sources/$1"
	cp "$2/$notice" "$PREFIX/share/droplin/licenses/$1"
}

# unpack FILE DIR: extract a verified tarball from build/dl into a fresh
# $SRC/DIR (the tarball's single top folder is stripped).
unpack() {
	rm -rf "${SRC:?}/$2"
	mkdir -p "$SRC/$2"
	tar -xf "$DL/$1" -C "$SRC/$2" --strip-components=1
	echo "$SRC/$2"
}

# apply PATCH DIR PACKAGE: apply a -p1 patch, failing loudly (naming the package and its
# version) on any fuzz or reject: a newer version than the pin may need the patch refreshed.
apply() {
	patch -d "$2" -p1 -F0 -N --no-backup-if-mismatch -s <"$1" || {
		echo "deps: FAILED: patch $(basename "$1") no longer applies to $3 $(version "$3");" \
			"refresh it (vendor/README.md, 'Bumping a version')" >&2
		exit 1
	}
}
