# tests/fuzz/fuzz.mk: libFuzzer targets on the glibc debug variant (vendor/debug.mk), included
# by the Makefile after $(GEN_H) is defined. See tests/fuzz/README.md.
#
#   make fuzz [FUZZ_SECONDS=60]   fuzz every target for FUZZ_SECONDS, print executions
#   make fuzz-regress             replay the checked-in corpus and crashes/ inputs, no fuzzing

FUZZ_TARGETS := http_head chunked json query token multipart
FUZZ_SECONDS ?= 60
FUZZ_BINS := $(addprefix build/fuzz/,$(FUZZ_TARGETS))
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -DDROPLIN_VERSION='"fuzz"' $(WARNINGS) \
	-Wno-unused-function $(DEBUG_DEPS_CFLAGS) -Ibuild/gen

$(FUZZ_BINS): build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h droplin.c $(DEBUG_DEPS_STAMP) $(GEN_H)
	@mkdir -p $(@D)
	$(DEBUG_CC) $(FUZZ_CFLAGS) -o $@ $< $(DEBUG_DEPS_LIBS)

fuzz: $(FUZZ_BINS)
	sh tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: $(FUZZ_BINS)
	sh tests/fuzz/run.sh regress $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-regress
