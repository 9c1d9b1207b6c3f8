#!/bin/sh
# The dependency pins survive Debian's updates (vendor/README.md, "Pins and fallback"): in a
# copy of vendor/ whose pin for jsmn names a version the archive does not have, vendor/fetch.sh
# must say so in one line, fetch the archive's current jsmn (checked against apt's signed
# index) and the recipe must build it; a patch that no longer applies must fail naming the
# package. Needs the Debian archive (about 10 s: one apt-get update, jsmn is 20 KB).
#
#   sh tests/deps/test_fallback.sh        (run by make test)
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/droplin-fallback-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "test_fallback: FAIL: $*" >&2; exit 1; }
ok() { echo "test_fallback: ok: $*"; }

# A root of its own: vendor/ copied, an empty build/ (no cached tarball, no apt lists).
cp -R "$REPO/vendor" "$T/vendor"
BOGUS=1.1.0-0~droplin.gone
current=$(awk '$1 == "jsmn" { print $2 }' "$T/vendor/pins")
sed -i "s/^jsmn\( *\)$current /jsmn\1$BOGUS /" "$T/vendor/pins"
sed -i "s/  jsmn_$current\\.dsc\$/  jsmn_$BOGUS.dsc/" "$T/vendor/sources.sha256"
grep -q "^jsmn *$BOGUS " "$T/vendor/pins" || fail "could not pin jsmn to $BOGUS"
echo "test_fallback: vendor/pins: $(grep '^jsmn' "$T/vendor/pins")"

"$T/vendor/fetch.sh" jsmn >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "fetch.sh jsmn failed"; }
sed 's/^/  | /' "$T/out"
line=$(grep "jsmn $BOGUS (pinned) is gone from the archive; using its current version" "$T/out") ||
	fail "no fallback line"
[ "$(grep -c 'gone from the archive' "$T/out")" = 1 ] || fail "more than one fallback line"
now=$(echo "$line" | sed 's/.*current version \([^ ]*\) .*/\1/')
[ "$now" != "$BOGUS" ] && [ -n "$now" ] || fail "fallback version: '$now'"
head -n 1 "$T/build/dl/jsmn.use" | grep -qx "# jsmn $now current pinned=$BOGUS" ||
	fail "build/dl/jsmn.use: $(head -n 1 "$T/build/dl/jsmn.use")"
ok "pinned $BOGUS is gone: fetched jsmn $now, the archive's current version"

# The recipe builds what was fetched and records it for --version and the SBOM.
PREFIX=$T/prefix SRC=$T/src "$T/vendor/jsmn/build.sh" || fail "jsmn/build.sh after the fallback"
[ -s "$T/prefix/include/jsmn.h" ] || fail "jsmn.h not installed"
head -n 1 "$T/prefix/share/droplin/sources/jsmn" | grep -q "^# jsmn $now current" ||
	fail "the build did not record jsmn $now"
ok "jsmn/build.sh built and recorded jsmn $now"

# A second fetch uses the files already there: no apt, no second line.
"$T/vendor/fetch.sh" jsmn >"$T/out2" 2>&1 || { cat "$T/out2" >&2; fail "second fetch"; }
[ ! -s "$T/out2" ] || { cat "$T/out2" >&2; fail "second fetch printed something"; }
ok "a second fetch is silent and offline (build/dl/jsmn.use verifies)"

# A patch that no longer applies fails loudly, naming the package and its version.
mkdir -p "$T/vendor/jsmn-patched"
printf -- '--- a/jsmn.h\n+++ b/jsmn.h\n@@ -1,1 +1,1 @@\n-no such line\n+droplin\n' >"$T/bad.patch"
cat >"$T/vendor/jsmn-patched/build.sh" <<SH
#!/bin/sh
. "\$(dirname "\$0")/../common.sh"
fetch jsmn
d=\$(unpack "\$(src jsmn orig)" jsmn-patched)
apply "$T/bad.patch" "\$d" jsmn
SH
rc=0
PREFIX=$T/prefix SRC=$T/src sh "$T/vendor/jsmn-patched/build.sh" >"$T/out3" 2>&1 || rc=$?
sed 's/^/  | /' "$T/out3"
[ "$rc" != 0 ] || fail "a patch that does not apply did not fail the build"
grep -q "FAILED: patch bad.patch no longer applies to jsmn $now" "$T/out3" ||
	fail "the failure does not name the package"
ok "a patch that no longer applies fails, naming jsmn $now"

# `make deps-update` (fetch.sh --update) moves the pin and its sums to the current version.
"$T/vendor/fetch.sh" --update jsmn >"$T/out4" 2>&1 || { cat "$T/out4" >&2; fail "--update jsmn"; }
sed 's/^/  | /' "$T/out4"
grep -qx "jsmn $BOGUS -> $now" "$T/out4" || fail "--update did not report the move"
grep -q "^jsmn *$now " "$T/vendor/pins" || fail "--update left vendor/pins at $(grep '^jsmn' "$T/vendor/pins")"
[ "$(grep -c '  jsmn_' "$T/vendor/sources.sha256")" = 2 ] && grep -q "  jsmn_$now\\.dsc\$" "$T/vendor/sources.sha256" ||
	fail "--update: sources.sha256 has $(grep '  jsmn_' "$T/vendor/sources.sha256")"
"$T/vendor/fetch.sh" --update jsmn | grep -qx "jsmn $now: current" || fail "a second --update moved again"
ok "fetch.sh --update (make deps-update) pins jsmn $now again"
