/*
 * Helpers shared by the libFuzzer targets of tests/fuzz/. Each target includes droplin.c
 * itself (with main renamed, as tests/unit.c does) and then this file.
 */
#ifndef DROPLIN_FUZZ_H
#define DROPLIN_FUZZ_H

/* A property every input must keep; a violation is a crash that libFuzzer saves. */
#define FUZZ_CHECK(cond)                                                                             \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* A heap copy of exactly n bytes, so that ASan reports a read one byte past the input. */
static char *fuzz_copy(const void *data, size_t n)
{
	char *p = malloc(n);
	FUZZ_CHECK(p != NULL);
	if (n)
		memcpy(p, data, n);
	return p;
}

/* A NUL-terminated heap copy (for functions that take C strings). */
static char *fuzz_cstr(const void *data, size_t n)
{
	char *p = malloc(n + 1);
	FUZZ_CHECK(p != NULL);
	if (n)
		memcpy(p, data, n);
	p[n] = 0;
	return p;
}

/*
 * Split points for targets fed in pieces: the first byte k says how many of the following
 * bytes (k % 8) are piece sizes (each byte b means b + 1 bytes); the rest of the input is the
 * stream, and what the listed pieces leave over is the last piece.
 */
struct fuzz_pieces {
	const uint8_t *sizes;
	size_t n_sizes, next;
};

static const uint8_t *fuzz_pieces_init(struct fuzz_pieces *p, const uint8_t *data, size_t *size)
{
	size_t k = *size ? data[0] % 8 : 0;
	if (k + 1 > *size)
		k = *size ? *size - 1 : 0;
	*p = (struct fuzz_pieces){.sizes = data + 1, .n_sizes = k};
	size_t skip = *size ? k + 1 : 0;
	*size -= skip;
	return data + skip;
}

/* Size of the next piece when `left` bytes of the stream remain. */
static size_t fuzz_pieces_next(struct fuzz_pieces *p, size_t left)
{
	size_t n = p->next < p->n_sizes ? (size_t)p->sizes[p->next++] + 1 : left;
	return n < left ? n : left;
}

/*
 * Visits every token of a parsed document with each reader a handler uses, and checks what
 * they promise: json_skip moves forward within the tokens, decoded strings are valid UTF-8
 * of the reported length, an object's own keys are found by json_get.
 */
static void fuzz_json_walk(const struct json *j, struct arena *a)
{
	for (int i = 0; i < j->n; i++) {
		enum json_kind k = json_kind(j, i);
		FUZZ_CHECK(k != JK_NONE);
		int next = json_skip(j, i);
		FUZZ_CHECK(next > i && next <= j->n);
		size_t len = 0;
		char *s = json_string(j, i, a, &len);
		FUZZ_CHECK(k == JK_STRING || !s);
		if (s)
			FUZZ_CHECK(s[len] == 0 && utf8_valid(s, len));
		long long iv;
		double dv;
		bool is_int = json_int(j, i, &iv), is_double = json_double(j, i, &dv);
		FUZZ_CHECK(!is_int || k == JK_NUMBER);
		FUZZ_CHECK(!is_double || k == JK_NUMBER);
		if (k != JK_OBJECT)
			continue;
		for (int m = i + 1, left = j->t[i].size; left > 0; left--) {
			/* a key without escapes is found (the last duplicate wins) */
			size_t kn = (size_t)(j->t[m].end - j->t[m].start);
			const char *kp = j->s + j->t[m].start;
			if (kn < 64 && !memchr(kp, '\\', kn) && !memchr(kp, 0, kn)) {
				char key[64];
				memcpy(key, kp, kn);
				key[kn] = 0;
				int v = json_get(j, i, key);
				FUZZ_CHECK(v > i && v < next);
			}
			m = json_skip(j, m + 1);
		}
		FUZZ_CHECK(json_get(j, i, "no such key \x01") == -1);
	}
	FUZZ_CHECK(json_kind(j, j->n) == JK_NONE && json_kind(j, -1) == JK_NONE);
}

#endif
