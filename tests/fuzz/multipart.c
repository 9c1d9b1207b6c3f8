/*
 * libFuzzer target: the streaming multipart/form-data parser of photo uploads. The input's
 * first line is the Content-Type value (mp_boundary); the rest starts with split points
 * (fuzz.h) and is the body, fed in those pieces and again in one piece: both must keep the
 * same file bytes and end the same way.
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

enum { FUZZ_FILE_MAX = 4096 }; /* small, so the 413 path is reachable */

struct outcome {
	int rc, status;
	struct multipart m;
	struct buf file;
};

static void feed(const char *boundary, struct fuzz_pieces *p, const uint8_t *s, size_t n,
		 struct outcome *o)
{
	mp_init(&o->m, boundary);
	o->file = (struct buf){.max = FUZZ_FILE_MAX};
	for (size_t pos = 0; pos < n && !o->rc;) {
		size_t k = p ? fuzz_pieces_next(p, n - pos) : n;
		char *in = fuzz_copy(s + pos, k);
		o->rc = mp_feed(&o->m, in, k, &o->file, &o->status);
		free(in);
		pos += k;
	}
	FUZZ_CHECK(o->rc == 0 || (o->rc == -1 && (o->status == 400 || o->status == 413)));
	FUZZ_CHECK(o->file.len <= FUZZ_FILE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t cn = lf ? (size_t)(lf - data) : size;
	char *ctype = fuzz_copy(data, cn);
	char boundary[MP_BOUNDARY_MAX + 1];
	int b = mp_boundary((struct slice){ctype, cn}, boundary);
	FUZZ_CHECK(b == 0 || b == -1 || b == -2);
	if (b == 0 && lf) {
		FUZZ_CHECK(strlen(boundary) <= MP_BOUNDARY_MAX);
		size_t n = size - cn - 1;
		struct fuzz_pieces p;
		const uint8_t *s = fuzz_pieces_init(&p, lf + 1, &n);
		static struct outcome whole, split;
		whole = (struct outcome){0}, split = (struct outcome){0};
		feed(boundary, NULL, s, n, &whole);
		feed(boundary, &p, s, n, &split);
		FUZZ_CHECK(whole.rc == split.rc && whole.status == split.status);
		if (!whole.rc) {
			FUZZ_CHECK(whole.m.state == split.m.state);
			FUZZ_CHECK(whole.file.len == split.file.len);
			FUZZ_CHECK(!whole.file.len || !memcmp(whole.file.p, split.file.p, whole.file.len));
			FUZZ_CHECK(whole.m.file_seen == split.m.file_seen);
			FUZZ_CHECK(!strcmp(whole.m.content_type, split.m.content_type));
		}
		buf_free(&whole.file);
		buf_free(&split.file);
	}
	free(ctype);
	return 0;
}
