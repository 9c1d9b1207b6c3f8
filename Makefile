# droplin: one C file, statically linked against musl. `make help` lists the targets.

include vendor/deps.mk
include vendor/debug.mk

CC       := musl-gcc
# From the git tag (scripts/version.sh, docs/releasing.md); `make VERSION=...` overrides it (the
# image build passes it in: its context has no .git).
VERSION  := $(shell sh scripts/version.sh)
# The shipped binaries are hardened (docs/hardening.md): a static PIE, so ASLR moves all of it
# (musl's rcrt1.o relocates it at start), full RELRO, and stack canaries. musl has no
# _FORTIFY_SOURCE (no __*_chk functions), so it stays 0. `make lint` checks all of it.
MUSL_SPECS := /usr/lib/x86_64-linux-musl/musl-gcc.specs
PIE_SPECS  := build/musl-static-pie.specs
HARDENED   := x86_64-linux-gnu-gcc -specs $(PIE_SPECS) -fPIE -fstack-protector-strong
HARDEN_LD  := -static-pie -Wl,-z,relro,-z,now
WARNINGS := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wformat=2 -Wvla \
            -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS   := -std=gnu11 -O2 -g0 -ffunction-sections -fdata-sections -fno-plt \
            -D_FORTIFY_SOURCE=0 -DDROPLIN_VERSION='"$(VERSION)"' $(WARNINGS) $(DEPS_CFLAGS) -Ibuild/gen
LDFLAGS  := -static -Wl,--gc-sections -Wl,-O1 -s
PYTEST   := /usr/bin/python3 -m pytest

.PHONY: all run test unit blackbox blackbox-pgbouncer lint fmt docs clean help

# DB_TLS=openssl: the TLS build variant, ./droplin-openssl, whose libpq reaches PostgreSQL over
# TLS with OpenSSL 3.0 (vendor/openssl); the default ./droplin has no TLS to PostgreSQL.
DB_TLS ?=
ifeq ($(DB_TLS),)
BIN := droplin
else ifeq ($(DB_TLS),openssl)
BIN := droplin-openssl
else
$(error DB_TLS is empty (no TLS to PostgreSQL) or openssl)
endif

all: $(BIN)

# Files of docs/ served by droplin, compiled in as byte arrays EMBED_<name>.
EMBEDDED := docs/openapi.json docs/api/index.html docs/api/app.js docs/api/app.css
GEN_H    := build/gen/embedded.h

$(GEN_H): $(EMBEDDED)
	mkdir -p $(@D)
	{ for f in $(EMBEDDED); do \
	    echo "static const unsigned char EMBED_$$(basename $$f | tr '.-' '__')[] = {"; \
	    od -An -v -tx1 $$f | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo "0x00};"; \
	  done; } > $@.tmp && mv $@.tmp $@

$(PIE_SPECS): $(MUSL_SPECS) vendor/static-pie.sed
	mkdir -p $(@D)
	sed -f vendor/static-pie.sed $(MUSL_SPECS) > $@.tmp
	grep -q rcrt1.o $@.tmp && mv $@.tmp $@

# What each binary links, for vendor/sbom.sh: the C library, then the dependency folders whose
# recipes recorded the versions built (vendor/README.md). It makes build/gen/libraries*.h
# (`droplin --version` lists the libraries), the SPDX SBOM written beside each binary
# (droplin.spdx.json) and the notices (`make licenses`, `make notices`).
SBOM_droplin         := musl $(DEPS_DIR)
SBOM_droplin-openssl := musl $(DEPS_DIR) $(TLS_DIR)
SBOM_debug           := glibc $(DEBUG_DEPS_DIR)

build/gen/libraries.h: $(DEPS_STAMP) vendor/sbom.sh vendor/pins
	mkdir -p $(@D) && vendor/sbom.sh header $(SBOM_droplin) >$@.tmp && mv $@.tmp $@
build/gen/libraries-openssl.h: $(TLS_STAMP) vendor/sbom.sh vendor/pins
	mkdir -p $(@D) && vendor/sbom.sh header $(SBOM_droplin-openssl) >$@.tmp && mv $@.tmp $@
build/gen/libraries-debug.h: $(DEBUG_DEPS_STAMP) vendor/sbom.sh vendor/pins
	mkdir -p $(@D) && vendor/sbom.sh header $(SBOM_debug) >$@.tmp && mv $@.tmp $@

# The version (scripts/version.sh: the git tag) is a file that changes only when it does, so
# a new tag rebuilds what prints it.
build/gen/version: FORCE
	@mkdir -p $(@D); echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
.PHONY: FORCE

droplin: droplin.c $(DEPS_STAMP) $(GEN_H) $(PIE_SPECS) build/gen/libraries.h build/gen/version
	$(HARDENED) $(CFLAGS) -include build/gen/libraries.h -o $@ droplin.c \
		$(filter-out -static,$(LDFLAGS)) $(HARDEN_LD) $(DEPS_LIBS)
	vendor/sbom.sh spdx $@ $(VERSION) $(SBOM_$@) >$@.spdx.json

droplin-openssl: droplin.c $(TLS_STAMP) $(GEN_H) $(PIE_SPECS) build/gen/libraries-openssl.h build/gen/version
	$(HARDENED) $(CFLAGS) -include build/gen/libraries-openssl.h -o $@ droplin.c \
		$(filter-out -static,$(LDFLAGS)) $(HARDEN_LD) $(TLS_LIBS)
	vendor/sbom.sh spdx $@ $(VERSION) $(SBOM_$@) >$@.spdx.json

# The notices of everything $(BIN) links, droplin's LICENSE included: build/licenses/$(BIN)/
# (the image's /licenses). `make notices` refreshes docs/third-party/ from the TLS variant's
# (which links every library either build does).
licenses: $(BIN)
	vendor/sbom.sh licenses build/licenses/$(BIN) $(SBOM_$(BIN))
notices:
	$(MAKE) --no-print-directory DB_TLS=openssl licenses
	rm -f docs/third-party/*.txt
	cp build/licenses/droplin-openssl/*.txt docs/third-party/
	rm docs/third-party/droplin.txt
.PHONY: licenses notices

# C unit tests reach droplin's statics by including droplin.c.
build/unit: tests/unit.c droplin.c $(DEPS_STAMP) $(GEN_H)
	$(CC) $(CFLAGS) -Wno-unused-function -o $@ tests/unit.c -static $(DEPS_LIBS)

# The glibc debug builds (vendor/debug.mk): droplin.debug with ASan and UBSan for the black-box
# suite, build/droplin.valgrind without them for Valgrind (DWARF 4: Valgrind 3.19 reads no 5).
DEBUG_CFLAGS := -std=gnu11 -gdwarf-4 -O1 -fno-omit-frame-pointer -DDROPLIN_VERSION='"$(VERSION)"' \
                $(WARNINGS) $(DEBUG_DEPS_CFLAGS) -Ibuild/gen

droplin.debug: droplin.c $(DEBUG_DEPS_STAMP) $(GEN_H) build/gen/libraries-debug.h
	$(DEBUG_CC) $(DEBUG_CFLAGS) -include build/gen/libraries-debug.h -fsanitize=address,undefined -o $@ droplin.c $(DEBUG_DEPS_LIBS)

build/droplin.valgrind: droplin.c $(DEBUG_DEPS_STAMP) $(GEN_H) build/gen/libraries-debug.h
	$(DEBUG_CC) $(DEBUG_CFLAGS) -include build/gen/libraries-debug.h -o $@ droplin.c $(DEBUG_DEPS_LIBS_PLAIN)

# `-include`: the image's build context (Containerfile) has no tests/.
-include tests/fuzz/fuzz.mk

run: droplin
	sh tests/install.sh run
	sh tests/run-local.sh

unit: build/unit
	build/unit

blackbox: droplin
	$(PYTEST) -q -n 2 tests/blackbox

# The suite again with a PgBouncer in transaction mode in front of every cluster the fixtures
# start, and DB_PREPARED_STATEMENTS=0 (tests/README.md). Left out: the TLS and failover tests
# (their clusters are their own) and one test that counts droplin's server connections in
# pg_stat_activity (behind a pooler those are the pooler's, not droplin's pool).
PGBOUNCER_DESELECT := --ignore=tests/blackbox/test_db_tls.py --ignore=tests/blackbox/test_db_failover.py \
	-k "not test_reads_alone_grow_the_pool_to_its_size"

blackbox-pgbouncer: droplin
	DROPLIN_TEST_PGBOUNCER=1 $(PYTEST) -q -n 2 tests/blackbox $(PGBOUNCER_DESELECT)

test: droplin droplin-openssl build/unit
	sh tests/install.sh
	sh tests/deps/test_fallback.sh
	build/unit
	DROPLIN_TLS_BIN=$(CURDIR)/droplin-openssl $(PYTEST) -q -n 2 tests/blackbox
	DROPLIN_TEST_PGBOUNCER=1 $(PYTEST) -q -n 2 tests/blackbox $(PGBOUNCER_DESELECT)
	sh tests/image/test_image.sh
	sh tests/compose/test_compose.sh
	$(MAKE) --no-print-directory fuzz-regress blackbox-asan valgrind

.PHONY: debug blackbox-asan valgrind
debug: droplin.debug build/droplin.valgrind

# The black-box suite against droplin.debug. The harness passes these options to every droplin
# it starts; reports go to build/san/ and any report fails the run. test_chroot is left out: it
# runs the binary alone in an empty root, which only the static build can do.
SAN_OPTIONS := halt_on_error=1:abort_on_error=1:log_path=$(CURDIR)/build/san/report
blackbox-asan: droplin.debug
	rm -rf build/san && mkdir -p build/san
	ASAN_OPTIONS=$(SAN_OPTIONS):detect_leaks=1 UBSAN_OPTIONS=$(SAN_OPTIONS):print_stacktrace=1 \
	ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer DROPLIN_BIN=$(CURDIR)/droplin.debug \
	DROPLIN_TEST_TIMEOUT_SCALE=3 \
	$(PYTEST) -q -n 2 tests/blackbox --ignore=tests/blackbox/test_chroot.py; rc=$$?; \
	for f in build/san/report.*; do [ -e "$$f" ] && cat "$$f" && rc=1; done; exit $$rc

# A short scenario under Valgrind --leak-check=full (tests/valgrind.py).
valgrind: build/droplin.valgrind
	/usr/bin/python3 tests/valgrind.py build/droplin.valgrind

lint: droplin.c $(DEPS_STAMP) $(GEN_H)
	$(CC) $(CFLAGS) -Werror -fsyntax-only droplin.c
	clang-format --dry-run --Werror droplin.c tests/unit.c
	$(CC) $(CFLAGS) -c -o build/droplin.o droplin.c
	@globals=$$(nm -g --defined-only build/droplin.o | awk '{print $$3}' | grep -v '^main$$'); \
	if [ -n "$$globals" ]; then echo "global symbols besides main: $$globals"; exit 1; fi
	$(MAKE) --no-print-directory droplin
	sh tests/hardening-check.sh droplin
	@echo "lint: ok"

docs: droplin
	/usr/bin/python3 tests/config_doc.py ./droplin docs/configuration.md

fmt:
	clang-format -i droplin.c tests/unit.c

clean:
	rm -f droplin droplin-openssl droplin.spdx.json droplin-openssl.spdx.json build/unit build/droplin.o $(GEN_H) droplin.debug build/droplin.valgrind
	rm -rf build/fuzz build/san build/licenses build/gen/libraries*.h

help:
	@echo "make [all]   build ./droplin (dependencies are built once into build/deps)"
	@echo "make DB_TLS=openssl   build ./droplin-openssl: libpq over TLS with OpenSSL 3.0"
	@echo "make run     start a throwaway PostgreSQL and droplin in development mode on 127.0.0.1"
	@echo "make test    unit tests and the black-box suite against a real PostgreSQL (then through PgBouncer),"
	@echo "             then fuzz-regress, blackbox-asan and valgrind (docs/hardening.md)"
	@echo "make debug   droplin.debug (ASan+UBSan) and build/droplin.valgrind, on glibc with clang"
	@echo "make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 60) and print execs/s"
	@echo "make fuzz-regress   replay tests/fuzz/corpus and tests/fuzz/crashes (no fuzzing)"
	@echo "make blackbox-asan  the black-box suite against droplin.debug; any report fails"
	@echo "make valgrind       a short scenario under Valgrind: no invalid access, no leak"
	@echo "make lint    warnings as errors, clang-format check, no global symbol but main"
	@echo "make docs    regenerate the variable table of docs/configuration.md from --help"
	@echo "make image   the FROM scratch image with podman, tagged latest and the version (docs/releasing.md)"
	@echo "make deps-update   move vendor/pins to the Debian versions the archive offers now"
	@echo "make licenses      the notices of what the binary links, into build/licenses/"
	@echo "make notices       refresh docs/third-party/ (builds the TLS variant)"
	@echo "make clean   remove droplin's own build outputs (not the dependency cache)"

# ---- make bench: droplin against nginx, pgbench and the bcrypt bound (bench/bench.py) -----
# Not part of `make test`. Prints one table; updates docs/performance.md and perf-health.png.
.PHONY: bench
bench: droplin
	sh bench/install.sh
	/usr/bin/python3 bench/bench.py

# The scratch image (Containerfile) with Debian's podman/buildah, storage under build/image/,
# tagged latest and $(VERSION). The build stage fetches the sources itself; build/dl/, when
# `make` has filled it, goes into the context and saves the download. tests/image/test_image.sh
# checks it; docs/releasing.md tags and pushes it.
image:
	DB_TLS=$(DB_TLS) VERSION=$(VERSION) sh tests/image/image.sh build
.PHONY: image
