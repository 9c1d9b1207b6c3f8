#!/bin/sh
# The shipped binary's hardening, read off the ELF file (make lint): a static PIE (no program
# interpreter, no shared library), full RELRO (GNU_RELRO and BIND_NOW), no executable stack, and
# stack canaries (reads of the canary at %fs:0x28) in droplin's own code.
set -eu
bin=${1:-droplin}
fail() { echo "hardening-check: $bin: $*" >&2; exit 1; }
readelf -h "$bin" | grep -q 'Type:[[:space:]]*DYN' || fail "not position independent (ELF type is not DYN)"
readelf -l "$bin" | grep -q INTERP && fail "has a program interpreter: not static"
readelf -d "$bin" | grep -q NEEDED && fail "needs shared libraries"
readelf -l "$bin" | grep -q GNU_RELRO || fail "no GNU_RELRO segment"
readelf -d "$bin" | grep -q 'FLAGS_1.*NOW' || fail "no BIND_NOW: RELRO is partial"
readelf -d "$bin" | grep -q 'FLAGS_1.*PIE' || fail "not marked PIE"
readelf -lW "$bin" | grep GNU_STACK | grep -q RWE && fail "executable stack"
canaries=$(objdump -d "$bin" | grep -c '%fs:0x28' || true)
[ "$canaries" -ge 300 ] || fail "only $canaries stack-canary reads: -fstack-protector-strong missing?"
echo "hardening-check: $bin: static PIE, full RELRO, NX stack, $canaries canary reads"
