# vendor/deps.mk: droplin's dependencies, built from pinned Debian sources
# with musl-gcc into static archives (see vendor/README.md).
#
#   include vendor/deps.mk
#   droplin: droplin.c $(DEPS_STAMP)
#           musl-gcc -static $(DEPS_CFLAGS) ... droplin.c $(DEPS_LIBS)
#
# Paths are relative to the repository root (run make there).  Each library
# has a stamp file rebuilt when its recipe (vendor/<lib>/, its patch) changes.

_deps_goal := $(.DEFAULT_GOAL)

DEPS_DIR := build/deps/musl
DEPS_SRC := build/src/musl
DEPS_STAMPS := $(DEPS_DIR)/.stamp
DEPS_STAMP := $(DEPS_STAMPS)/all
DEPS_CFLAGS := -isystem $(DEPS_DIR)/include
DEPS_LIBS := -L$(DEPS_DIR)/lib -lcurl -lpq -lpgcommon_shlib -lpgport_shlib \
	-ljwt -ljansson -lbearssl -ldcrypt
CA_BUNDLE := /etc/ssl/certs/ca-certificates.crt
CA_ANCHORS_H := $(DEPS_DIR)/include/droplin_ca_anchors.h

_deps_libs := musl bearssl jsmn jansson libjwt curl libpq
# The Debian source packages, with the suite where it matters (vendor/README.md); their
# versions are in vendor/pins.
_deps_sources := musl bearssl jsmn jansson libjwt/trixie curl postgresql-15/bookworm
_deps_env := PREFIX='$(abspath $(DEPS_DIR))' SRC='$(abspath $(DEPS_SRC))'

$(DEPS_STAMP): $(addprefix $(DEPS_STAMPS)/,$(_deps_libs)) $(CA_ANCHORS_H)
	touch $@

# Build packages, then all downloads in one apt run (the versions of vendor/pins, checked
# against vendor/sources.sha256, or the archive's current ones when a pinned version is gone),
# before any library build starts.
$(DEPS_STAMPS)/tools: vendor/tools.sh
	sh vendor/tools.sh
	mkdir -p $(@D) && touch $@

$(DEPS_STAMPS)/fetch: vendor/sources.sha256 vendor/pins vendor/fetch.sh | $(DEPS_STAMPS)/tools
	vendor/fetch.sh $(_deps_sources)
	touch $@

# vendor/pins: a new pin (or a fallback from it) may change what a library is built from.
$(addprefix $(DEPS_STAMPS)/,$(_deps_libs)): $(DEPS_STAMPS)/%: \
		vendor/%/build.sh vendor/common.sh vendor/pins | $(DEPS_STAMPS)/fetch
	$(_deps_env) vendor/$*/build.sh
	touch $@

$(DEPS_STAMPS)/libjwt: $(wildcard vendor/libjwt/*.[ch]) \
	$(DEPS_STAMPS)/jansson $(DEPS_STAMPS)/bearssl
$(DEPS_STAMPS)/curl: vendor/patches/curl-bearssl-handshake-stall.patch \
	$(DEPS_STAMPS)/bearssl
$(DEPS_STAMPS)/libpq: vendor/patches/libpq-getrandom.patch

$(CA_ANCHORS_H): $(CA_BUNDLE) vendor/bearssl/ca-anchors.sh $(DEPS_STAMPS)/bearssl
	vendor/bearssl/ca-anchors.sh $(DEPS_DIR)/bin/brssl $(CA_BUNDLE) $@

# The TLS build variant (`make DB_TLS=openssl`): OpenSSL 3.0 and a libpq built
# with it, in a folder of their own (the default build's stay untouched).
# Everything else, headers included, is the default build's; the variant's
# lib/ comes first so its libpq.a is the one linked.  OpenSSL is fetched only
# here, so the default build never downloads it.
TLS_DIR := build/deps/musl-openssl
TLS_SRC := build/src/musl-openssl
TLS_STAMPS := $(TLS_DIR)/.stamp
TLS_STAMP := $(TLS_STAMPS)/all
TLS_LIBS := -L$(TLS_DIR)/lib -L$(DEPS_DIR)/lib -lcurl -lpq -lpgcommon_shlib \
	-lpgport_shlib -lssl -lcrypto -ljwt -ljansson -lbearssl -ldcrypt
_tls_env := PREFIX='$(abspath $(TLS_DIR))' SRC='$(abspath $(TLS_SRC))'

$(TLS_STAMP): $(DEPS_STAMP) $(TLS_STAMPS)/openssl $(TLS_STAMPS)/libpq-openssl
	touch $@

$(TLS_STAMPS)/fetch: vendor/sources.sha256 vendor/pins vendor/fetch.sh | $(DEPS_STAMPS)/fetch
	vendor/fetch.sh openssl
	mkdir -p $(@D) && touch $@

$(TLS_STAMPS)/openssl $(TLS_STAMPS)/libpq-openssl: $(TLS_STAMPS)/%: \
		vendor/%/build.sh vendor/common.sh vendor/pins | $(TLS_STAMPS)/fetch
	$(_tls_env) vendor/$*/build.sh
	touch $@

$(TLS_STAMPS)/libpq-openssl: vendor/patches/libpq-getrandom.patch \
	$(TLS_STAMPS)/openssl

# End-to-end check of the built libraries (PostgreSQL, TLS, JWT, bcrypt).
deps-selftest: $(DEPS_STAMP)
	vendor/selftest.sh $(DEPS_DIR) '$(DEPS_LIBS)'
.PHONY: deps-selftest

# Move vendor/pins and vendor/sources.sha256 to the versions the archive offers now (nothing
# is downloaded; the next make fetches and checks them). Review, build, test, commit.
deps-update: | $(DEPS_STAMPS)/tools
	vendor/fetch.sh --update $(_deps_sources) openssl
.PHONY: deps-update

# ca-certificates is installed by vendor/tools.sh on a fresh machine.
$(CA_BUNDLE): | $(DEPS_STAMPS)/tools ;

.DEFAULT_GOAL := $(_deps_goal)
