#!/bin/sh
# jansson (needed by libjwt): static only.
. "$(dirname "$0")/../common.sh"
fetch jansson
d=$(unpack "$(src jansson orig)" jansson)
log "jansson in $d"
cd "$d"
autoreconf -fi >/dev/null 2>&1
./configure -q --prefix="$PREFIX" --disable-shared --enable-static \
	--disable-dependency-tracking CC="$CC" CFLAGS="$OPT"
make -j"$JOBS" -C src install >/dev/null
rm -f "$PREFIX/lib/libjansson.la"
installed jansson "$d"
