# vendor/debug.mk: the debug variant of droplin's dependencies: the same pinned
# sources and recipes as vendor/deps.mk (include that first), built with clang
# against glibc for AddressSanitizer, UBSan, libFuzzer and Valgrind (see
# vendor/README.md, "The debug variant").
#
#   include vendor/deps.mk
#   include vendor/debug.mk
#   droplin.debug: droplin.c $(DEBUG_DEPS_STAMP)
#           $(DEBUG_CC) -fsanitize=address,undefined $(DEBUG_DEPS_CFLAGS) ... $(DEBUG_DEPS_LIBS)
#
# Every library is built plain (-g -O1) into build/deps/debug/lib, for
# Valgrind ($(DEBUG_DEPS_LIBS_PLAIN)).  The libraries that read what clients
# send (tokens, passwords) are built a second time with ASan, UBSan and
# libFuzzer's coverage into build/deps/debug/san/lib, which
# $(DEBUG_DEPS_LIBS) searches first; those that only talk to configured
# peers (curl, libpq) stay plain there too.  Headers are the plain build's.

_debug_goal := $(.DEFAULT_GOAL)

DEBUG_CC := clang-14
DEBUG_DEPS_DIR := build/deps/debug
DEBUG_DEPS_STAMPS := $(DEBUG_DEPS_DIR)/.stamp
DEBUG_DEPS_STAMP := $(DEBUG_DEPS_STAMPS)/all
DEBUG_DEPS_CFLAGS := -isystem $(DEBUG_DEPS_DIR)/include
_debug_comma := ,
# deps.mk's link order.  musl's crypt is linked whole: the sanitizer runtimes
# define a weak crypt_r interceptor that would otherwise keep the archive's
# crypt_r out of the link.
_debug_l := $(patsubst -ldcrypt,-Wl$(_debug_comma)--whole-archive -ldcrypt \
	-Wl$(_debug_comma)--no-whole-archive,$(filter -l%,$(DEPS_LIBS)))
# glibc keeps libm apart; debug-ctype.o makes glibc's wide-character classes musl's.
_debug_ctype := $(DEBUG_DEPS_DIR)/lib/debug-ctype.o
DEBUG_DEPS_LIBS := $(_debug_ctype) -L$(DEBUG_DEPS_DIR)/san/lib -L$(DEBUG_DEPS_DIR)/lib $(_debug_l) -lm
DEBUG_DEPS_LIBS_PLAIN := $(_debug_ctype) -L$(DEBUG_DEPS_DIR)/lib $(_debug_l) -lm

# Instrumented as well as plain; curl and libpq are only plain.
DEBUG_SAN_LIBS := musl bearssl jansson libjwt

_debug_env := VARIANT=debug PREFIX='$(abspath $(DEBUG_DEPS_DIR))' \
	SRC='$(abspath build/src/debug)'
_debug_san_env := VARIANT=debug SAN=1 PREFIX='$(abspath $(DEBUG_DEPS_DIR)/san)' \
	SRC='$(abspath build/src/debug-san)'
_debug_plain := $(addprefix $(DEBUG_DEPS_STAMPS)/,$(_deps_libs))
_debug_san := $(addprefix $(DEBUG_DEPS_STAMPS)/san-,$(DEBUG_SAN_LIBS))

$(DEBUG_DEPS_STAMP): $(_debug_plain) $(_debug_san) $(_debug_ctype) \
		$(DEBUG_DEPS_DIR)/include/droplin_ca_anchors.h
	touch $@

$(DEBUG_DEPS_STAMPS)/tools: vendor/tools.sh
	sh vendor/tools.sh debug
	mkdir -p $(@D) && touch $@

# Sources come from deps.mk's one fetch step.
$(_debug_plain): $(DEBUG_DEPS_STAMPS)/%: vendor/%/build.sh vendor/common.sh vendor/pins \
		| $(DEPS_STAMPS)/fetch $(DEBUG_DEPS_STAMPS)/tools
	$(_debug_env) vendor/$*/build.sh
	touch $@

$(_debug_san): $(DEBUG_DEPS_STAMPS)/san-%: vendor/%/build.sh vendor/common.sh vendor/pins \
		| $(DEPS_STAMPS)/fetch $(DEBUG_DEPS_STAMPS)/tools
	$(_debug_san_env) vendor/$*/build.sh
	touch $@

$(DEBUG_DEPS_STAMPS)/libjwt $(DEBUG_DEPS_STAMPS)/san-libjwt: $(wildcard vendor/libjwt/*.[ch])
$(DEBUG_DEPS_STAMPS)/libjwt: $(DEBUG_DEPS_STAMPS)/jansson $(DEBUG_DEPS_STAMPS)/bearssl
$(DEBUG_DEPS_STAMPS)/san-libjwt: $(DEBUG_DEPS_STAMPS)/san-jansson $(DEBUG_DEPS_STAMPS)/san-bearssl
$(DEBUG_DEPS_STAMPS)/curl: vendor/patches/curl-bearssl-handshake-stall.patch \
	$(DEBUG_DEPS_STAMPS)/bearssl
$(DEBUG_DEPS_STAMPS)/libpq: vendor/patches/libpq-getrandom.patch

$(_debug_ctype): vendor/debug-ctype.c | $(DEBUG_DEPS_STAMPS)/tools
	mkdir -p $(@D)
	$(DEBUG_CC) -gdwarf-4 -O1 -Wall -Wextra -c -o $@ vendor/debug-ctype.c

# The trust anchors are plain data: the musl build's header is shared.
$(DEBUG_DEPS_DIR)/include/droplin_ca_anchors.h: $(CA_ANCHORS_H) $(DEBUG_DEPS_STAMPS)/bearssl
	cp $(CA_ANCHORS_H) $@

.DEFAULT_GOAL := $(_debug_goal)
