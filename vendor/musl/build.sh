#!/bin/sh
# musl's crypt (Debian's musl has none): src/crypt/*.c of the musl source
# package -> libdcrypt.a, plus musl's own <crypt.h> (crypt_r, crypt_data).
. "$(dirname "$0")/../common.sh"
fetch musl
d=$(unpack "$(src musl orig)" musl)
log "musl crypt in $d"
mkdir -p "$d/obj"
inc="-I$d/src/include -I$d/src/internal"
if [ "$VARIANT" = debug ]; then
	# On glibc, musl's internal headers (which wrap musl's public ones) cannot
	# be used; the crypt sources need only crypt.h's internal declarations and
	# two macros.  crypt_r is a strong alias here: the sanitizer runtimes
	# define a weak crypt_r interceptor, which must not be what runs.
	mkdir -p "$d/glibc"
	cat >"$d/glibc/crypt.h" <<H
#ifndef DROPLIN_MUSL_CRYPT_H
#define DROPLIN_MUSL_CRYPT_H
#include "$d/include/crypt.h"
#define hidden __attribute__((__visibility__("hidden")))
#define weak_alias(old, new) extern __typeof(old) new __attribute__((__alias__(#old)))
hidden char *__crypt_r(const char *, const char *, struct crypt_data *);
hidden char *__crypt_des(const char *, const char *, char *);
hidden char *__crypt_md5(const char *, const char *, char *);
hidden char *__crypt_blowfish(const char *, const char *, char *);
hidden char *__crypt_sha256(const char *, const char *, char *);
hidden char *__crypt_sha512(const char *, const char *, char *);
#endif
H
	inc="-I$d/glibc -include $d/glibc/crypt.h"
fi
for c in "$d"/src/crypt/*.c; do
	o=$d/obj/$(basename "$c" .c).o
	# shellcheck disable=SC2086
	$CC $OPT -std=c99 -D_XOPEN_SOURCE=700 $inc -c "$c" -o "$o"
done
rm -f "$PREFIX/lib/libdcrypt.a"
ar rcs "$PREFIX/lib/libdcrypt.a" "$d"/obj/*.o
cp "$d/include/crypt.h" "$PREFIX/include/"
installed musl "$d"
