/*
 * libFuzzer target: chunked body decoding (http_chunked_feed). The input's first bytes give
 * the split points (fuzz.h); the stream is fed in those pieces the way a connection feeds it
 * (bytes not consumed stay in front of the next read), and again in one piece: both must
 * decode the same bytes, consume the same and end the same way.
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

enum { FUZZ_BODY_MAX = 64 << 10 }; /* MAX_JSON_BODY's default */

struct outcome {
	ssize_t rc; /* -1 failed; else total bytes consumed */
	int status;
	enum chunk_state state;
	struct buf out;
};

static void feed_whole(const uint8_t *s, size_t n, struct outcome *o)
{
	struct chunked c = {CHUNK_SIZE, 0};
	char *in = fuzz_copy(s, n);
	o->rc = http_chunked_feed(&c, in, n, &o->out, &o->status);
	o->state = c.state;
	FUZZ_CHECK(o->rc >= -1 && o->rc <= (ssize_t)n);
	free(in);
}

static void feed_pieces(struct fuzz_pieces *p, const uint8_t *s, size_t n, struct outcome *o)
{
	struct chunked c = {CHUNK_SIZE, 0};
	char *pending = NULL;
	size_t have = 0, pos = 0, total = 0;
	o->rc = 0;
	while (pos < n && c.state != CHUNK_DONE) {
		size_t k = fuzz_pieces_next(p, n - pos);
		char *grown = malloc(have + k); /* exactly what has arrived */
		FUZZ_CHECK(grown != NULL);
		if (have)
			memcpy(grown, pending, have);
		memcpy(grown + have, s + pos, k);
		free(pending);
		pending = grown;
		have += k, pos += k;
		ssize_t used = http_chunked_feed(&c, pending, have, &o->out, &o->status);
		FUZZ_CHECK(used >= -1 && used <= (ssize_t)have);
		if (used < 0) {
			o->rc = -1;
			break;
		}
		total += (size_t)used;
		memmove(pending, pending + used, have - (size_t)used);
		have -= (size_t)used;
	}
	if (o->rc == 0)
		o->rc = (ssize_t)total;
	o->state = c.state;
	free(pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_pieces p;
	const uint8_t *s = fuzz_pieces_init(&p, data, &size);
	struct outcome whole = {.out = {.max = FUZZ_BODY_MAX}}, split = {.out = {.max = FUZZ_BODY_MAX}};
	feed_whole(s, size, &whole);
	feed_pieces(&p, s, size, &split);
	FUZZ_CHECK((whole.rc < 0) == (split.rc < 0));
	if (whole.rc < 0) {
		FUZZ_CHECK(whole.status == split.status);
		FUZZ_CHECK(whole.status == 400 || whole.status == 413);
	} else {
		FUZZ_CHECK(whole.state == split.state);
		FUZZ_CHECK(whole.out.len == split.out.len);
		FUZZ_CHECK(!whole.out.len || !memcmp(whole.out.p, split.out.p, whole.out.len));
		FUZZ_CHECK(whole.rc == split.rc);
	}
	FUZZ_CHECK(whole.out.len <= FUZZ_BODY_MAX);
	buf_free(&whole.out);
	buf_free(&split.out);
	return 0;
}
