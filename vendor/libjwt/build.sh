#!/bin/sh
# libjwt (trixie orig, 1.17.2 pinned): jwt.c with droplin's own BearSSL backend and
# base64 (this folder) -> libjwt.a + jwt.h.  Needs jansson and bearssl.
. "$(dirname "$0")/../common.sh"
fetch libjwt/trixie
d=$(unpack "$(src libjwt orig)" libjwt)
log "libjwt in $d"
here=$VENDOR/libjwt
mkdir -p "$d/obj"
for c in "$d/libjwt/jwt.c" "$here/jwt-bearssl.c" "$here/base64.c"; do
	$CC $OPT -Wall -D_GNU_SOURCE -I"$here" -I"$d/libjwt" -I"$d/include" \
		-I"$PREFIX/include" -c "$c" -o "$d/obj/$(basename "$c" .c).o"
done
rm -f "$PREFIX/lib/libjwt.a"
ar rcs "$PREFIX/lib/libjwt.a" "$d"/obj/*.o
cp "$d/include/jwt.h" "$PREFIX/include/"
installed libjwt "$d"
