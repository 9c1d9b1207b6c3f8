# Debian's musl-gcc.specs, taught -static-pie: musl's rcrt1.o (which relocates the executable
# itself at start) instead of Scrt1.o, and a static PIE link with no dynamic linker. Applied by
# the Makefile to /usr/lib/x86_64-linux-musl/musl-gcc.specs into build/musl-static-pie.specs.
s|^%{!shared: /usr/lib/x86_64-linux-musl/Scrt1.o}|%{static-pie:/usr/lib/x86_64-linux-musl/rcrt1.o;!shared:/usr/lib/x86_64-linux-musl/Scrt1.o}|
s|^-dynamic-linker /lib/ld-musl-x86_64.so.1 -nostdlib|%{!static-pie:-dynamic-linker /lib/ld-musl-x86_64.so.1} -nostdlib %{static-pie:-static -pie --no-dynamic-linker -z text}|
