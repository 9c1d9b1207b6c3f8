#!/bin/sh
# jsmn: header only.  Include it with JSMN_STATIC and JSMN_STRICT defined.
. "$(dirname "$0")/../common.sh"
fetch jsmn
d=$(unpack jsmn_1.1.0.orig.tar.gz jsmn)
cp "$d/jsmn.h" "$PREFIX/include/"
