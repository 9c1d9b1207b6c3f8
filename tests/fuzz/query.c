/*
 * libFuzzer target: query-string and form decoding (query_param). The input is the query
 * string of a request (what follows the `?`); it is asked for fixed names and for the names
 * it contains.
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

static void lookup(struct ctx *c, const char *name)
{
	char *v = query_param(c, name);
	if (v) /* decoded values are valid UTF-8 without NUL */
		FUZZ_CHECK(utf8_valid(v, strlen(v)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = {"email", "username", "action", "ip_address", "a", ""};
	struct http_req r = {0};
	struct ctx c = {.req = &r};
	char *q = fuzz_copy(data, size);
	r.query = (struct slice){q, size};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		lookup(&c, fixed[i]);
	/* the first names of the string itself */
	struct slice rest = r.query;
	for (int k = 0; k < 8 && rest.n; k++) {
		const char *amp = memchr(rest.p, '&', rest.n);
		size_t len = amp ? (size_t)(amp - rest.p) : rest.n;
		const char *eq = memchr(rest.p, '=', len);
		size_t klen = eq ? (size_t)(eq - rest.p) : len;
		if (klen < 128 && !memchr(rest.p, 0, klen)) {
			char name[128];
			memcpy(name, rest.p, klen);
			name[klen] = 0;
			lookup(&c, name);
		}
		rest.p += amp ? len + 1 : len;
		rest.n -= amp ? len + 1 : len;
	}
	arena_free(&c.arena);
	free(q);
	return 0;
}
