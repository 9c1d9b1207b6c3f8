#!/bin/sh
# libpq 15 as vendor/libpq/build.sh makes it, but --with-openssl against the
# OpenSSL 3.0 of vendor/openssl (same PREFIX), for the TLS build variant.
# Installs libpq.a, libpgcommon_shlib.a and libpgport_shlib.a beside libssl.a
# and libcrypto.a; the headers are the default build's.
. "$(dirname "$0")/../common.sh"
fetch postgresql-15/bookworm
d=$(unpack "$(src postgresql-15 orig)" libpq-openssl)
log "libpq (OpenSSL) in $d"
apply "$VENDOR/patches/libpq-getrandom.patch" "$d" postgresql-15
cd "$d"
./configure -q CC="$CC" CFLAGS="$OPT" --without-readline --without-zlib \
	--without-icu --without-gssapi --without-ldap --with-openssl \
	--without-lz4 --without-zstd --disable-nls \
	--with-includes="$PREFIX/include" --with-libraries="$PREFIX/lib"
grep -q '^#define USE_OPENSSL 1' src/include/pg_config.h ||
	{ echo "libpq-openssl: configure did not enable OpenSSL" >&2; exit 1; }
make -C src/backend generated-headers >/dev/null
make -j"$JOBS" -C src/port libpgport_shlib.a >/dev/null
make -j"$JOBS" -C src/common libpgcommon_shlib.a >/dev/null
make -j"$JOBS" -C src/interfaces/libpq all-static-lib >/dev/null
cp src/interfaces/libpq/libpq.a src/common/libpgcommon_shlib.a \
	src/port/libpgport_shlib.a "$PREFIX/lib/"
installed postgresql-15 "$d"
