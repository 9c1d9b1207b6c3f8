/*
 * libFuzzer target: token parsing. The first byte picks a mode for the rest of the input:
 *   even: the rest is a token as a client sends it, checked by jwt_claims with a fixed key;
 *   odd:  the rest is a header and a payload (split at the first NUL; without one, a plain
 *         HS256 header and the rest as payload), signed here with the key, so that libjwt's
 *         and jansson's parsing and droplin's reading of the claims see any JSON at all.
 * Either way the token also goes through token_verify (what auth_token runs before its cache),
 * with KEY as the current key and another as the previous one, and the rest through
 * b64url_decode, whose result must encode back to it.
 */
#define main droplin_main
#include "../../droplin.c"
#undef main
#include "fuzz.h"

static const char KEY[] = "fuzz-key-0123456789abcdef0123456789abcdef";

/* The claims as auth_require reads them, then every token. */
static void read_claims(struct ctx *c, struct json *cl)
{
	double d;
	long long v;
	FUZZ_CHECK(json_kind(cl, 0) == JK_OBJECT);
	json_double(cl, json_get(cl, 0, "exp"), &d);
	json_int(cl, json_get(cl, 0, "user_id"), &v);
	json_double(cl, json_get(cl, 0, "iat"), &d);
	json_int(cl, json_get(cl, 0, "key_version"), &v);
	json_double(cl, json_get(cl, 0, "last_activity"), &d);
	json_kind(cl, json_get(cl, 0, "remember_me"));
	fuzz_json_walk(cl, &c->arena);
}

static void check_token(const char *token)
{
	struct ctx c = {0};
	struct json cl;
	if (jwt_claims(&c, token, KEY, &cl) == 0)
		read_claims(&c, &cl);
	struct token_claims t;
	cfg.jwt_secret = KEY;
	cfg.previous_jwt_secret = "fuzz-previous-key-0123456789abcdef0123456789";
	if (token_verify(&c, token, &t) == 0)
		FUZZ_CHECK(t.key_offset == 0); /* nothing is signed with the previous key */
	arena_free(&c.arena);
}

static char *b64(const void *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	FUZZ_CHECK(out != NULL);
	b64url_encode(out, in, n);
	return out;
}

static void check_signed(const uint8_t *s, size_t n)
{
	static const char plain[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	const uint8_t *nul = memchr(s, 0, n);
	const void *head = nul ? (const void *)s : plain, *body = nul ? nul + 1 : s;
	size_t hn = nul ? (size_t)(nul - s) : sizeof plain - 1, bn = nul ? n - hn - 1 : n;
	char *h = b64(head, hn), *p = b64(body, bn);
	size_t len = strlen(h) + 1 + strlen(p);
	char *token = malloc(len + 1 + 44);
	FUZZ_CHECK(token != NULL);
	snprintf(token, len + 1, "%s.%s", h, p);
	br_hmac_key_context kc;
	br_hmac_context hc;
	unsigned char mac[32];
	br_hmac_key_init(&kc, &br_sha256_vtable, KEY, sizeof KEY - 1);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, token, len);
	br_hmac_out(&hc, mac);
	token[len] = '.';
	b64url_encode(token + len + 1, mac, sizeof mac);
	check_token(token);
	free(token);
	free(h);
	free(p);
}

static void check_b64url(const uint8_t *s, size_t n)
{
	unsigned char *out = malloc(3 * n / 4); /* exactly the promised room */
	char *in = fuzz_copy(s, n);
	ssize_t m = b64url_decode(out, in, n);
	FUZZ_CHECK(m >= -1 && m <= (ssize_t)(3 * n / 4));
	if (m >= 0) { /* strict decoding: one encoding per value */
		char *again = b64(out, (size_t)m);
		FUZZ_CHECK(strlen(again) == n && !memcmp(again, in, n));
		free(again);
	}
	free(in);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	const uint8_t *s = data + 1;
	size_t n = size - 1;
	if (data[0] & 1) {
		check_signed(s, n);
	} else {
		char *token = fuzz_cstr(s, n);
		check_token(token);
		free(token);
	}
	check_b64url(s, n);
	return 0;
}
