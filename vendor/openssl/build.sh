#!/bin/sh
# OpenSSL 3.0 (libssl.a, libcrypto.a and headers) from Debian's pristine orig
# tarball, for the TLS build variant only (`make DB_TLS=openssl`): libpq links
# it to reach PostgreSQL over TLS.  Everything else in droplin uses BearSSL.
# Debian's patches are left out: they change install paths, default security
# levels and the shared-library build, none of which a static libpq needs.
. "$(dirname "$0")/../common.sh"
fetch openssl
d=$(unpack "$(src openssl orig)" openssl)
log "openssl in $d"
cd "$d"
# No shared libraries, engines, DSOs or loadable providers (the default
# provider is built in), no secure heap (it needs kernel headers musl-gcc
# lacks; libpq does not use it); no TLS versions or algorithms a PostgreSQL server
# does not offer.  OPENSSLDIR /etc/ssl: where Debian keeps openssl.cnf.
./Configure linux-x86_64 CC="$CC" CFLAGS="$OPT" \
	--prefix="$PREFIX" --openssldir=/etc/ssl --libdir=lib \
	no-shared no-module no-dso no-engine no-afalgeng no-async no-comp \
	no-ssl3 no-dtls no-srp no-psk no-gost no-idea no-mdc2 no-rc5 no-seed \
	no-whirlpool no-camellia no-aria no-sm2 no-sm3 no-sm4 no-cms no-ts \
	no-ocsp no-ct no-srtp no-nextprotoneg no-tests no-fuzz-afl \
	no-fuzz-libfuzzer no-ui-console no-legacy no-secure-memory >/dev/null
make -j"$JOBS" build_libs >/dev/null
make install_dev >/dev/null
installed openssl "$d"
