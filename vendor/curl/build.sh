#!/bin/sh
# libcurl (bookworm, 7.88.1 pinned, with Debian's patch series: the CVE fixes) over
# BearSSL, static, HTTP and HTTPS only, plus droplin's patch for the
# handshake stall (vendor/patches/curl-bearssl-handshake-stall.patch).
. "$(dirname "$0")/../common.sh"
fetch curl
d=$(unpack "$(src curl orig)" curl)
log "curl in $d"
tar -xf "$DL/$(src curl debian)" -C "$d"
# Debian's series up to the marker after which come the patches used only
# for its GnuTLS/NSS flavours.
for p in $(sed -n '/^# Do not add patches below/q; /^[^#]/p' \
	"$d/debian/patches/series"); do
	apply "$d/debian/patches/$p" "$d" curl
done
apply "$VENDOR/patches/curl-bearssl-handshake-stall.patch" "$d" curl
cd "$d"
autoreconf -fi >/dev/null 2>&1   # Debian's patches touch configure.ac
./configure -q --prefix="$PREFIX" CC="$CC" CFLAGS="$OPT" \
	--disable-shared --enable-static --disable-dependency-tracking \
	--with-bearssl="$PREFIX" --without-ca-bundle --without-ca-path \
	--without-ca-fallback --enable-threaded-resolver --enable-ipv6 \
	--disable-ftp --disable-file --disable-ldap --disable-ldaps \
	--disable-rtsp --disable-dict --disable-telnet --disable-tftp \
	--disable-pop3 --disable-imap --disable-smb --disable-smtp \
	--disable-gopher --disable-mqtt --disable-proxy --disable-unix-sockets \
	--disable-cookies --disable-netrc --disable-alt-svc --disable-hsts \
	--disable-doh --disable-ntlm --disable-ntlm-wb --disable-crypto-auth \
	--disable-tls-srp --disable-manual --disable-libcurl-option \
	--disable-verbose --disable-progress-meter --disable-dnsshuffle \
	--disable-get-easy-options \
	--without-zlib --without-brotli --without-zstd --without-libidn2 \
	--without-libpsl --without-nghttp2 --without-ngtcp2 --without-nghttp3 \
	--without-libssh2 --without-libssh --without-librtmp --without-libgsasl \
	--without-hyper
make -j"$JOBS" -C lib >/dev/null
make -C lib install >/dev/null
make -C include install >/dev/null
rm -f "$PREFIX/lib/libcurl.la"
installed curl "$d"
