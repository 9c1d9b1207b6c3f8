#!/bin/sh
# jsmn: header only.  Include it with JSMN_STATIC and JSMN_STRICT defined.
. "$(dirname "$0")/../common.sh"
fetch jsmn
d=$(unpack "$(src jsmn orig)" jsmn)
cp "$d/jsmn.h" "$PREFIX/include/"
installed jsmn "$d"
