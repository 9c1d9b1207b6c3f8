#!/bin/sh
# musl's crypt (Debian's musl has none): src/crypt/*.c of the musl source
# package -> libdcrypt.a, plus musl's own <crypt.h> (crypt_r, crypt_data).
. "$(dirname "$0")/../common.sh"
fetch musl
d=$(unpack musl_1.2.3.orig.tar.gz musl)
log "musl crypt in $d"
mkdir -p "$d/obj"
for c in "$d"/src/crypt/*.c; do
	o=$d/obj/$(basename "$c" .c).o
	$CC $OPT -std=c99 -D_XOPEN_SOURCE=700 -I"$d/src/include" \
		-I"$d/src/internal" -c "$c" -o "$o"
done
rm -f "$PREFIX/lib/libdcrypt.a"
ar rcs "$PREFIX/lib/libdcrypt.a" "$d"/obj/*.o
cp "$d/include/crypt.h" "$PREFIX/include/"
