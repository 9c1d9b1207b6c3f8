#!/bin/sh
# libpq 15 from the pristine upstream tarball (Debian's orig; Debian's own
# patches move paths we do not want), without TLS, plus droplin's getrandom
# patch.  Installs libpq.a and the libpgcommon_shlib.a/libpgport_shlib.a it
# is meant to link with (the non-_shlib ones add exit()-on-OOM helpers).
. "$(dirname "$0")/../common.sh"
fetch postgresql-15/bookworm
d=$(unpack "$(src postgresql-15 orig)" libpq)
log "libpq in $d"
apply "$VENDOR/patches/libpq-getrandom.patch" "$d" postgresql-15
cd "$d"
./configure -q CC="$CC" CFLAGS="$OPT" --without-readline --without-zlib \
	--without-icu --without-gssapi --without-ldap --without-openssl \
	--without-lz4 --without-zstd --disable-nls
make -C src/backend generated-headers >/dev/null
make -j"$JOBS" -C src/port libpgport_shlib.a >/dev/null
make -j"$JOBS" -C src/common libpgcommon_shlib.a >/dev/null
make -j"$JOBS" -C src/interfaces/libpq all-static-lib >/dev/null
cp src/interfaces/libpq/libpq.a src/common/libpgcommon_shlib.a \
	src/port/libpgport_shlib.a "$PREFIX/lib/"
cp src/interfaces/libpq/libpq-fe.h src/interfaces/libpq/libpq-events.h \
	src/include/postgres_ext.h src/include/pg_config_ext.h "$PREFIX/include/"
installed postgresql-15 "$d"
