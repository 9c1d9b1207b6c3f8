/*
 * libFuzzer target: the request head parser and framing (http_parse_head, http_frame).
 * The input is the bytes a client sent, in a heap block of exactly their size.
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

enum { FUZZ_MAX_HEADERS = 100 }; /* MAX_HEADERS' default */

/* Every slice the parser returns lies inside the head it reported. */
static void check_in(struct slice s, const char *b, int n)
{
	FUZZ_CHECK(s.n == 0 || (s.p >= b && s.p + s.n <= b + n));
}

static int parse_copy(const uint8_t *data, size_t n, struct http_req *r, int max, int *status)
{
	char *b = fuzz_copy(data, n);
	int rc = http_parse_head(b, n, r, max, status, &(size_t){0});
	free(b);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_req r, r2;
	int status = 0;
	char *b = fuzz_copy(data, size);
	int n = http_parse_head(b, size, &r, FUZZ_MAX_HEADERS, &status, &(size_t){0});
	FUZZ_CHECK(n == -2 || n == -1 || (n > 0 && (size_t)n <= size));
	if (n == -1)
		FUZZ_CHECK(status == 400 || status == 431 || status == 505);
	if (n > 0) {
		FUZZ_CHECK(r.n_headers >= 0 && r.n_headers <= FUZZ_MAX_HEADERS);
		check_in(r.method, b, n);
		check_in(r.target, b, n);
		for (int i = 0; i < r.n_headers; i++) {
			check_in(r.headers[i].name, b, n);
			check_in(r.headers[i].value, b, n);
		}
		/* the head alone parses the same, and a byte less of it needs more */
		FUZZ_CHECK(parse_copy(data, (size_t)n, &r2, FUZZ_MAX_HEADERS, &status) == n);
		FUZZ_CHECK(parse_copy(data, (size_t)n - 1, &r2, FUZZ_MAX_HEADERS, &status) == -2);
		/* resumed after a partial read, at any split, the parse ends the same */
		for (size_t k = 1; k < (size_t)n; k += 1 + (size_t)n / 7) {
			size_t resume = 0;
			FUZZ_CHECK(http_parse_head(b, k, &r2, FUZZ_MAX_HEADERS, &status, &resume) == -2);
			FUZZ_CHECK(resume <= k);
			FUZZ_CHECK(http_parse_head(b, size, &r2, FUZZ_MAX_HEADERS, &status, &resume) == n);
			FUZZ_CHECK(r2.n_headers == r.n_headers);
		}
		if (http_frame(&r, &status) == 0) {
			if (!sl_eq(r.path, "/")) /* absolute-form without a path gets a constant "/" */
				check_in(r.path, b, n);
			check_in(r.query, b, n);
			FUZZ_CHECK(r.body_kind != BODY_LENGTH || r.content_length > 0);
			FUZZ_CHECK(r.body_kind != BODY_CHUNKED || r.minor == 1);
		} else {
			FUZZ_CHECK(status == 400 || status == 417);
		}
	}
	/* a small header limit is the 431 path */
	if (parse_copy(data, size, &r2, 2, &status) == -1 && n != -1)
		FUZZ_CHECK(status == 431);
	free(b);
	return 0;
}
