/*
 * libFuzzer target: the JSON reader. json_parse (json_syntax, then jsmn and droplin's own
 * token checks) on the input as a request body, then every token through the readers the
 * handlers use (fuzz.h's walk).
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a = {0};
	struct json j;
	char *s = fuzz_copy(data, size);
	long bad = json_syntax(s, size);
	FUZZ_CHECK(bad >= -1 && bad <= (long)size);
	if (json_parse(&a, s, size, &j) == 0) {
		FUZZ_CHECK(bad == -1 && j.n > 0);
		FUZZ_CHECK(json_skip(&j, 0) == j.n);
		fuzz_json_walk(&j, &a);
	} else {
		FUZZ_CHECK(j.error_pos >= 0 && (size_t)j.error_pos <= size);
	}
	arena_free(&a);
	free(s);
	return 0;
}
