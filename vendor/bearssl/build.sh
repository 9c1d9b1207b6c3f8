#!/bin/sh
# BearSSL: libbearssl.a + headers, and the brssl tool (used to pre-decode
# the CA bundle into trust anchors, see ca-anchors.sh).
. "$(dirname "$0")/../common.sh"
fetch bearssl
d=$(unpack "$(src bearssl orig)" bearssl)
log "bearssl in $d"
# The debug variant needs no brssl: it shares the musl build's trust anchors.
targets="lib tools" ldflags=-static
[ "$VARIANT" = musl ] || targets=lib ldflags=
cat >"$d/conf/droplin.mk" <<MK
include conf/Unix.mk
BUILD = build-droplin
CC = $CC
CFLAGS = -W -Wall $OPT
LD = $CC
LDFLAGS = $ldflags
DLL = no
TESTS = no
MK
# shellcheck disable=SC2086
make -C "$d" -j"$JOBS" CONF=droplin $targets >/dev/null
cp "$d"/build-droplin/libbearssl.a "$PREFIX/lib/"
cp "$d"/inc/*.h "$PREFIX/include/"
if [ "$VARIANT" = musl ]; then
	mkdir -p "$PREFIX/bin"
	cp "$d"/build-droplin/brssl "$PREFIX/bin/"
fi
installed bearssl "$d"
