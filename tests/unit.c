/*
 * C unit tests for droplin's pure parts. They include droplin.c to reach its statics; the
 * HTTP parser is fed inputs that end exactly at a PROT_NONE guard page, so any read past
 * the end of the input crashes the test instead of passing silently.
 */
#define main droplin_main
#include "../droplin.c"
#undef main

#include <sys/mman.h>

static int passed, failed;

/* True when the buffer holds exactly the literal. */
#define BUF_IS(b, lit) ((b).len == sizeof(lit) - 1 && !memcmp((b).p, lit, sizeof(lit) - 1))

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (cond) {                                                                                  \
			passed++;                                                                            \
		} else {                                                                                     \
			failed++;                                                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
		}                                                                                            \
	} while (0)

/* A copy of s placed so that its last byte is the last readable byte before a guard page. */
static char *guard_base;
static size_t guard_page;

static const char *guarded(const char *s, size_t n)
{
	if (!guard_base) {
		guard_page = (size_t)sysconf(_SC_PAGESIZE);
		size_t pages = (1 << 20) / guard_page + 1;
		guard_base = mmap(NULL, (pages + 1) * guard_page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mprotect(guard_base + pages * guard_page, guard_page, PROT_NONE);
		guard_base += pages * guard_page; /* the guard page itself */
	}
	char *p = guard_base - n;
	memcpy(p, s, n);
	return p;
}

static int parse(const char *s, struct http_req *r, int *status)
{
	size_t n = strlen(s);
	return http_parse_head(guarded(s, n), n, r, 100, status, &(size_t){0});
}

static void test_parse_valid(void)
{
	static const char req[] = "GET /health?x=1 HTTP/1.1\r\nHost: a\r\nX-Long:  v v \r\n\r\n";
	struct http_req r;
	int status;
	int n = parse(req, &r, &status);
	CHECK(n == (int)strlen(req));
	CHECK(sl_eq(r.method, "GET"));
	CHECK(sl_eq(r.target, "/health?x=1"));
	CHECK(r.minor == 1);
	CHECK(r.n_headers == 2);
	CHECK(sl_eq(r.headers[1].value, "v v"));
	/* every strict prefix needs more bytes and never reads past its end */
	for (size_t k = 0; k < strlen(req); k++) {
		char prefix[sizeof req];
		memcpy(prefix, req, k);
		prefix[k] = 0;
		CHECK(parse(prefix, &r, &status) == -2);
	}
	CHECK(parse("\r\nGET / HTTP/1.0\r\n\r\n", &r, &status) > 0 && r.minor == 0);
}

static void test_parse_invalid(void)
{
#define CASE(lit, st)                                                                                        \
	{                                                                                                    \
		lit, sizeof lit - 1, st                                                                      \
	}
	static const struct {
		const char *in;
		size_t n;
		int status;
	} cases[] = {
		CASE("GET / HTTP/1.1\nHost: a\r\n\r\n", 400),              /* bare LF */
		CASE("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),              /* bare LF in a field */
		CASE("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),         /* bare CR */
		CASE("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),           /* space before colon */
		CASE("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400), /* obs-fold */
		CASE("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400),           /* control byte */
		CASE("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400),            /* NUL in a value */
		CASE("GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n", 400),            /* NUL in a name */
		CASE("GET  / HTTP/1.1\r\n\r\n", 400),                      /* two spaces */
		CASE("GET / HTTP/2.0\r\n\r\n", 505),
		CASE("GET / HTTP/1.2\r\n\r\n", 505),
		CASE("GET / HTTQ/1.1\r\n\r\n", 400),
		CASE("G(T / HTTP/1.1\r\n\r\n", 400),
		CASE("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400),
	};
#undef CASE
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_req r;
		int status = 0;
		int n = http_parse_head(guarded(cases[i].in, cases[i].n), cases[i].n, &r, 100, &status,
					&(size_t){0});
		if (n != -1 || status != cases[i].status)
			fprintf(stderr, "parse case %zu: n=%d status=%d\n", i, n, status);
		CHECK(n == -1 && status == cases[i].status);
	}
	/* header count limit */
	struct buf b = {0};
	buf_adds(&b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 101; i++)
		buf_printf(&b, "X-%d: v\r\n", i);
	buf_adds(&b, "\r\n");
	struct http_req r;
	int status;
	CHECK(http_parse_head(guarded(b.p, b.len), b.len, &r, 100, &status, &(size_t){0}) == -1 &&
	      status == 431);
	buf_free(&b);
}

static int frame(const char *s, struct http_req *r)
{
	int status;
	if (parse(s, r, &status) <= 0)
		return -100;
	return http_frame(r, &status) ? status : 0;
}

static void test_frame(void)
{
	struct http_req r;
	CHECK(frame("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &r) == 0);
	CHECK(r.body_kind == BODY_LENGTH && r.content_length == 5 && r.keep_alive);
	CHECK(frame("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &r) == 0);
	CHECK(r.body_kind == BODY_CHUNKED);
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		"chunked\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET nothing HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int st = frame(bad[i], &r);
		if (st != 400)
			fprintf(stderr, "frame case %zu: %d\n", i, st);
		CHECK(st == 400);
	}
	CHECK(frame("GET / HTTP/1.0\r\n\r\n", &r) == 0 && !r.keep_alive);
	CHECK(frame("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) == 0 && r.keep_alive);
	CHECK(frame("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &r) == 0 && !r.keep_alive);
	CHECK(frame("GET http://x.example/p?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r) == 0 &&
	      sl_eq(r.path, "/p") && sl_eq(r.query, "q=1"));
	CHECK(frame("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &r) ==
		      0 &&
	      r.expect_continue);
	CHECK(frame("GET / HTTP/1.1\r\nHost: a\r\nExpect: other\r\n\r\n", &r) == 417);
}

/*
 * Feeds a chunked body in pieces of `step` bytes, keeping unconsumed bytes as a server would.
 * Returns the bytes the decoder consumed in all, -1 on an error, -2 when the input ran out.
 */
static int chunked_run(const char *in, size_t step, size_t max, struct buf *out, int *status)
{
	struct chunked c = {CHUNK_SIZE, 0};
	char pending[8192];
	size_t have = 0, fed = 0, used = 0, n = strlen(in);
	*out = (struct buf){.max = max};
	while (c.state != CHUNK_DONE) {
		if (fed == n)
			return -2;
		size_t take = n - fed < step ? n - fed : step;
		memcpy(pending + have, in + fed, take);
		have += take;
		fed += take;
		ssize_t k = http_chunked_feed(&c, guarded(pending, have), have, out, status);
		if (k < 0)
			return -1;
		memmove(pending, pending + k, have - (size_t)k);
		have -= (size_t)k;
		used += (size_t)k;
	}
	return (int)used;
}

static void test_chunked(void)
{
	static const char body[] = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET";
	for (size_t step = 1; step <= sizeof body; step++) {
		struct buf out;
		int status;
		CHECK(chunked_run(body, step, 1024, &out, &status) == (int)sizeof body - 1 - 3);
		CHECK(out.len == 11 && !memcmp(out.p, "hello world", 11));
		buf_free(&out);
	}
	static const char *const bad[] = {"x\r\n",           "5\nhello\r\n0\r\n\r\n",
					  "5\r\nhelloX\r\n", "10000000000000000\r\n",
					  "-5\r\n",          "5 x\r\nhello\r\n0\r\n\r\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf out;
		int status = 0;
		CHECK(chunked_run(bad[i], 1, 1024, &out, &status) == -1 && status == 400);
		buf_free(&out);
	}
	struct buf out;
	int status = 0;
	CHECK(chunked_run("8\r\n12345678\r\n0\r\n\r\n", 4, 4, &out, &status) == -1 && status == 413);
	buf_free(&out);
	/* framing is bounded: endless trailers, or long extensions on tiny chunks, end with 413 */
	struct buf big = {0};
	buf_adds(&big, "0\r\n");
	while (big.len <= CHUNK_FRAMING_MAX)
		buf_adds(&big, "X-Trailer: yes\r\n");
	buf_adds(&big, "\r\n");
	status = 0;
	CHECK(chunked_run(big.p, 4096, 1 << 20, &out, &status) == -1 && status == 413);
	buf_free(&out);
	big.len = 0;
	char ext[CHUNK_LINE_MAX - 8];
	memset(ext, 'e', sizeof ext - 1);
	ext[sizeof ext - 1] = 0;
	while (big.len <= CHUNK_FRAMING_MAX)
		buf_printf(&big, "1;%s\r\na\r\n", ext);
	buf_adds(&big, "0\r\n\r\n");
	status = 0;
	CHECK(chunked_run(big.p, 4096, 1 << 20, &out, &status) == -1 && status == 413);
	buf_free(&out);
	big.len = 0; /* a body of a thousand one-byte chunks is fine */
	for (int i = 0; i < 1000; i++)
		buf_adds(&big, "1;x=y\r\na\r\n");
	buf_adds(&big, "0\r\n\r\n");
	CHECK(chunked_run(big.p, 4096, 1 << 20, &out, &status) == (int)big.len && out.len == 1000);
	buf_free(&out);
	buf_free(&big);
}

/*
 * The per-address table against a model, in a table small enough for long chains: every
 * address has one entry with its count, whatever order connections come and go in.
 */
static void test_iptab(void)
{
	struct iptab_entry slots[16];
	memset(slots, 0, sizeof slots);
	L.iptab = slots;
	L.iptab_mask = 15;
	L.iptab_key = 12345;
	uint32_t model[12] = {0};
	uint64_t rng = 88172645463325252ull;
	for (int step = 0; step < 20000; step++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		int who = (int)(rng % 12);
		struct in6_addr a = {0};
		a.s6_addr[15] = (unsigned char)who;
		bool add = (rng >> 20) % 2 || !model[who];
		if (add && model[who] < 3) {
			struct iptab_entry *e = iptab_find(&a);
			CHECK(e->count == model[who]);
			e->addr = a;
			e->count++;
			model[who]++;
		} else if (model[who]) {
			iptab_release(&a);
			model[who]--;
		}
		int entries[12] = {0};
		for (int i = 0; i < 16; i++)
			if (slots[i].count)
				entries[slots[i].addr.s6_addr[15]]++;
		for (int k = 0; k < 12; k++)
			if (entries[k] != (model[k] > 0) ||
			    iptab_find(&(struct in6_addr){.s6_addr[15] = (unsigned char)k})->count !=
				    model[k]) {
				CHECK(false);
				return;
			}
	}
	CHECK(true);
	L.iptab = NULL;
}

/* Client addresses: one spelling each, and IPv6 grouped by /64 for limits. */
static void test_client_addr(void)
{
	char text[INET6_ADDRSTRLEN], key[CLIENT_KEY_MAX];
	CHECK(client_addr("2001:DB8:0:0::1", text, key) && !strcmp(text, "2001:db8::1") &&
	      !strcmp(key, "2001:db8::/64"));
	CHECK(client_addr("2001:db8::ffff:1:2", text, key) && !strcmp(key, "2001:db8::/64"));
	CHECK(client_addr("2001:db8:0:1::1", text, key) && !strcmp(key, "2001:db8:0:1::/64"));
	CHECK(client_addr("::ffff:10.1.2.3", text, key) && !strcmp(text, "10.1.2.3") &&
	      !strcmp(key, "10.1.2.3"));
	CHECK(client_addr("192.0.2.7", text, key) && !strcmp(key, "192.0.2.7"));
	CHECK(!client_addr("not an address", text, key));
	CHECK(!client_addr("192.0.2.7:80", text, key));
}

/* Secrets compare by digest: equal texts only, whatever their lengths. */
static void test_ct_equal(void)
{
	CHECK(ct_equal("secret", 6, "secret", 6));
	CHECK(ct_equal("", 0, "", 0));
	CHECK(!ct_equal("secret", 6, "secreT", 6));
	CHECK(!ct_equal("secre", 5, "secret", 6));
	CHECK(!ct_equal("secret!", 7, "secret", 6));
	CHECK(!ct_equal("", 0, "x", 1));
	unsigned char d[DIGEST_BYTES];
	digest_of("admin-secret", 12, d);
	CHECK(digest_matches("admin-secret", 12, d));
	CHECK(!digest_matches("admin-secret ", 13, d));
	CHECK(!digest_matches("admin", 5, d));
}

static void test_json(void)
{
	struct buf b = {0};
	json_str(&b, "a\"b\\c\n\x01\x7f", 8);
	CHECK(BUF_IS(b, "\"a\\\"b\\\\c\\n\\u0001\\u007f\""));
	b.len = 0;
	static const char mixed[] = "caf\xc3\xa9 \xff \xed\xa0\x80 \xf0\x9f\x98\x80";
	json_str(&b, mixed, sizeof mixed - 1);
	CHECK(utf8_valid(b.p, b.len));
	CHECK(BUF_IS(b,
		     "\"caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80\""));
	b.len = 0;
	buf_addc(&b, '{');
	json_kv_str(&b, "a", "x");
	json_kv_int(&b, "b", -3);
	json_kv_bool(&b, "c", true);
	buf_addc(&b, '}');
	CHECK(BUF_IS(b, "{\"a\":\"x\",\"b\":-3,\"c\":true}"));
	CHECK(!utf8_valid("\xc0\x80", 2));         /* overlong */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
	CHECK(utf8_valid("\xe2\x82\xac", 3));
	buf_free(&b);
	struct buf capped = {.max = 8};
	buf_adds(&capped, "0123456789");
	CHECK(capped.over && capped.len == 0);
	buf_free(&capped);
}

static void test_base64url(void)
{
	char enc[64];
	unsigned char dec[64];
	for (size_t n = 0; n < 20; n++) {
		unsigned char raw[20];
		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)(i * 37 + 250);
		size_t len = b64url_encode(enc, raw, n);
		CHECK(len == (n * 4 + 2) / 3);
		CHECK(!strpbrk(enc, "+/="));
		CHECK(b64url_decode(dec, enc, len) == (ssize_t)n && !memcmp(dec, raw, n));
	}
	CHECK(b64url_encode(enc, "\xfb\xff", 2) == 3 && !strcmp(enc, "-_8"));
	CHECK(b64url_decode(dec, "a", 1) == -1);
	CHECK(b64url_decode(dec, "ab+c", 4) == -1);
	CHECK(b64url_decode(dec, "ab=", 3) == -1);
	CHECK(b64url_decode(dec, "-_9", 3) == -1); /* non-zero trailing bits */
}

static void test_config(void)
{
	char err[256];
	struct config c;
	unsetenv("DROPLIN_ENV");
	setenv("PORT", "9000", 1);
	CHECK(cfg_load(&c, err, sizeof err) == 0 && c.port == 9000 && !c.dev && c.db_pool_size == 4);
	CHECK(c.drain_seconds == 3 && c.max_connections == 10000 && c.keepalive_timeout_ms == 75000);
	setenv("PORT", "70000", 1);
	CHECK(cfg_load(&c, err, sizeof err) == -1 && strstr(err, "PORT"));
	setenv("PORT", "80x", 1);
	CHECK(cfg_load(&c, err, sizeof err) == -1);
	unsetenv("PORT");
	setenv("DRAIN_SECONDS", "0.25", 1);
	CHECK(cfg_load(&c, err, sizeof err) == 0 && c.drain_seconds == 0.25);
	unsetenv("DRAIN_SECONDS");
	setenv("DROPLIN_ENV", "staging", 1);
	CHECK(cfg_load(&c, err, sizeof err) == -1 && strstr(err, "DROPLIN_ENV"));
	unsetenv("DROPLIN_ENV");
	CHECK(cfg_load(&c, err, sizeof err) == 0);
	c.jwt_secret = "short";
	c.admin_secret = "0123456789abcdef0123456789abcdef";
	CHECK(cfg_check_secrets(&c, err, sizeof err) == -1 && strstr(err, "JWT_SECRET_KEY"));
	c.jwt_secret = ORIGINAL_DEFAULT_JWT_SECRET;
	CHECK(cfg_check_secrets(&c, err, sizeof err) == -1);
	c.jwt_secret = "0123456789abcdef0123456789abcdef";
	c.admin_secret = NULL;
	CHECK(cfg_check_secrets(&c, err, sizeof err) == -1 && strstr(err, "ADMIN_SECRET"));
	c.admin_secret = "0123456789abcdef0123456789abcdef";
	CHECK(cfg_check_secrets(&c, err, sizeof err) == 0);
	log_min = LOG_ERROR; /* the development warnings below are expected */
	c.dev = true;
	c.jwt_secret = NULL;
	CHECK(cfg_check_secrets(&c, err, sizeof err) == 0 && c.jwt_secret && strlen(c.jwt_secret) >= 32);
}

static void test_cors_and_routes(void)
{
	CHECK(cors_dev_pattern(S("http://localhost:3000")));
	CHECK(cors_dev_pattern(S("http://192.168.4.20:8081")));
	CHECK(!cors_dev_pattern(S("http://localhost:")));
	CHECK(!cors_dev_pattern(S("http://localhost:80.evil.example")));
	CHECK(!cors_dev_pattern(S("http://192.168.1:80")));
	CHECK(!cors_dev_pattern(S("https://localhost:3000")));
	struct slice p[4];
	CHECK(route_match("/devices/{id}", S("/devices/42"), p, 4) && sl_eq(p[0], "42"));
	CHECK(!route_match("/devices/{id}", S("/devices/"), p, 4));
	CHECK(!route_match("/devices/{id}", S("/devices/4/x"), p, 4));
	CHECK(route_match("/health", S("/health"), p, 4));
	CHECK(!route_match("/health", S("/healthz"), p, 4));
}

static void test_client_ip(void)
{
	struct http_req r;
	struct ctx c = {.req = &r};
	int status;
	parse("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6, 1.2.3.4 , 10.0.0.1\r\n\r\n", &r,
	      &status);
	cfg.trust_proxy = 0;
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "127.0.0.1"));
	cfg.trust_proxy = 1;
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "10.0.0.1"));
	cfg.trust_proxy = 2;
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "1.2.3.4"));
	cfg.trust_proxy = 5; /* fewer entries than proxies: the peer */
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "127.0.0.1"));
	parse("GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 5.5.5.5\r\n\r\n", &r, &status);
	cfg.trust_proxy = 1;
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "5.5.5.5"));
	parse("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: not-an-ip\r\n\r\n", &r, &status);
	ctx_client_ip(&c, "127.0.0.1");
	CHECK(!strcmp(c.client_ip, "127.0.0.1"));
	cfg.trust_proxy = 0;
}

static void test_json_reader(void)
{
	struct arena a = {0};
	struct json j;
	static const char doc[] =
		" {\"a\": \"x\\u00e9\\ud83d\\ude00\\n\", \"n\": -12, \"f\": 1.5e3, \"b\": true,"
		" \"z\": null, \"o\": {\"a\": [1, {\"q\": 2}]}, \"a\": \"last\"} ";
	CHECK(json_parse(&a, doc, sizeof doc - 1, &j) == 0);
	size_t len;
	char *v = json_string(&j, json_get(&j, 0, "a"), &a, &len);
	CHECK(v && !strcmp(v, "last")); /* duplicate keys: the last wins, as in Python */
	long long n;
	double d;
	CHECK(json_int(&j, json_get(&j, 0, "n"), &n) && n == -12);
	CHECK(!json_int(&j, json_get(&j, 0, "f"), &n) && json_double(&j, json_get(&j, 0, "f"), &d) &&
	      d == 1500);
	CHECK(json_kind(&j, json_get(&j, 0, "b")) == JK_TRUE &&
	      json_kind(&j, json_get(&j, 0, "z")) == JK_NULL);
	CHECK(json_get(&j, 0, "q") == -1); /* nested keys are not top-level keys */
	static const char esc[] = "{\"s\": \"x\\u00e9\\ud83d\\ude00\\n\"}";
	CHECK(json_parse(&a, esc, sizeof esc - 1, &j) == 0);
	v = json_string(&j, json_get(&j, 0, "s"), &a, &len);
	CHECK(v && len == 8 && !memcmp(v, "x\xc3\xa9\xf0\x9f\x98\x80\n", 8));
	static const char *const bad[] = {
		"",
		"{",
		"{\"a\":}",
		"{\"a\" 1}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":tru}",
		"{\"a\":1} x",
		"{} {}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}",
		"[1,]x",
		"{\"a\":-}",
		"{1:2}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = json_parse(&a, bad[i], strlen(bad[i]), &j);
		if (rc != -1)
			fprintf(stderr, "json case %zu parsed\n", i);
		CHECK(rc == -1);
	}
	static const char lone[] = "{\"s\": \"\\ud83d\"}";
	CHECK(json_parse(&a, lone, sizeof lone - 1, &j) == 0 &&
	      !json_string(&j, json_get(&j, 0, "s"), &a, &len));
	/* nesting is capped; within the cap it is walked without recursion */
	struct buf deep = {0};
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		buf_addc(&deep, '[');
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		buf_addc(&deep, ']');
	CHECK(json_parse(&a, deep.p, deep.len, &j) == 0 && json_skip(&j, 0) == JSON_MAX_DEPTH);
	deep.len = 0;
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		buf_addc(&deep, '[');
	CHECK(json_parse(&a, deep.p, deep.len, &j) == -1 && j.error_pos == JSON_MAX_DEPTH);
	buf_free(&deep);
	/* error offsets as Python's json module reports them, in characters */
	static const struct {
		const char *in;
		int pos;
	} offsets[] = {{"{\"username\": }", 13}, {"", 0},     {"  ", 2},          {"{\"a\" 1}", 5},
		       {"{\"a\":1,}", 7},        {"[1,]", 3}, {"{\"a\":1} x", 8}, {"\"abc", 0},
		       {"{\"a\":01}", 6},        {"[1.]", 2}, {"{'a':1}", 1},     {"[\"\xc3\xa9\", x]", 6},
		       {"[\"\\x\"]", 2},         {"nul", 0}};
	for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
		int rc = json_parse(&a, offsets[i].in, strlen(offsets[i].in), &j);
		if (rc != -1 || j.error_pos != offsets[i].pos)
			fprintf(stderr, "offset case %zu: rc=%d pos=%d\n", i, rc, j.error_pos);
		CHECK(rc == -1 && j.error_pos == offsets[i].pos);
	}
	arena_free(&a);
}

static void test_passwords(void)
{
	static const struct {
		const char *pw;
		int score;
		const char *level;
	} examples[] = {
		{"MyPass123!", 60, "strong"},
		{"Aa1!aaaa", 60, "strong"},
		{"Test123!@#", 60, "strong"},
		{"TestPass123!", 70, "strong"},
		{"MyStr0ng!Pass", 80, "very strong"},
		{"Str0ng!Passw0rd", 80, "very strong"},
		{"C0mpl3x!P@ssw0rd", 90, "very strong"},
		{"MyVeryL0ng&Secure!Password2024", 100, "very strong"},
		{"Password1", 50, "medium"},
		{"password", 20, "weak"},
		{"Abcdefg1_", 40, "medium"},
	};
	for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
		int s = pw_strength(examples[i].pw);
		if (s != examples[i].score)
			fprintf(stderr, "strength %s: %d\n", examples[i].pw, s);
		CHECK(s == examples[i].score && !strcmp(pw_level(s), examples[i].level));
	}
	struct buf e = {0};
	pw_register_errors("Abcdefg1_", "bob", &e);
	buf_addc(&e, 0);
	CHECK(!strcmp(e.p, "Password must contain at least one special character (!@#$%^&*)"));
	e.len = 0;
	pw_register_errors("Caitie690!x", "caitie690", &e);
	buf_addc(&e, 0);
	CHECK(!strcmp(e.p, "Password cannot contain your username"));
	buf_free(&e);
	CHECK(pw_change_error("\xc3\x89t\xc3\xa9"
			      "1234_") == NULL); /* Unicode upper/lower, broad set */
	CHECK(!strcmp(pw_change_error("abcdefg1_"), "Password must contain at least one uppercase letter"));
	char setting[BCRYPT_SETTING_MAX];
	bcrypt_new_setting(setting, 12);
	CHECK(strlen(setting) == 29 && !strncmp(setting, "$2b$12$", 7) && strchr(".Oeu", setting[28]));
	CHECK(email_valid("a.b+c@x-y.example") && !email_valid("a@b.c") && !email_valid("a@@b.co") &&
	      !email_valid("a b@c.co"));
	CHECK(!username_error("john.doe_1") && username_error("jo") && username_error("jöhn"));
}

/* Feeds a multipart body in pieces of `step` bytes; returns 0 and the file in *out. */
static int mp_run(const char *boundary, const char *body, size_t n, size_t step, struct buf *out, int *status)
{
	struct multipart m;
	mp_init(&m, boundary);
	*out = (struct buf){.max = 64};
	for (size_t i = 0; i < n; i += step)
		if (mp_feed(&m, guarded(body + i, n - i < step ? n - i : step), n - i < step ? n - i : step,
			    out, status))
			return -1;
	return m.state == MP_DONE && m.file_seen ? 0 : -2;
}

static void test_multipart(void)
{
	char b[MP_BOUNDARY_MAX + 1];
	CHECK(!mp_boundary(S("multipart/form-data; boundary=abc123"), b) && !strcmp(b, "abc123"));
	CHECK(!mp_boundary(S("Multipart/Form-Data; charset=x; boundary=\"a b;c\""), b) &&
	      !strcmp(b, "a b;c"));
	CHECK(mp_boundary(S("application/json"), b) == -1);
	CHECK(mp_boundary(S("multipart/form-data"), b) == -2);
	CHECK(mp_boundary(S("multipart/form-data; boundary=\"\""), b) == -2);
	CHECK(mp_boundary(S("multipart/form-datax; boundary=a"), b) == -1);
	static const char body[] =
		"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
		"hello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
		"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--XyA\r\n\r\r\n-X"
		"\r\n--XyZ--\r\nepilogue";
	static const char file[] = "\xff\xd8\xff\r\n--XyA\r\n\r\r\n-X";
	for (size_t step = 1; step <= sizeof body; step++) {
		struct buf out;
		int status;
		int rc = mp_run("XyZ", body, sizeof body - 1, step, &out, &status);
		if (rc || out.len != sizeof file - 1)
			fprintf(stderr, "multipart step %zu: rc=%d len=%zu\n", step, rc, out.len);
		CHECK(rc == 0 && out.len == sizeof file - 1 && !memcmp(out.p, file, out.len));
		buf_free(&out);
	}
	static const char nofile[] =
		"--B\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nx\r\n--B--";
	struct buf out;
	int status;
	CHECK(mp_run("B", nofile, sizeof nofile - 1, 3, &out, &status) == -2 && out.len == 0);
	buf_free(&out);
	static const char big[] =
		"--B\r\nContent-Disposition: form-data; name=file\r\n\r\n"
		"0123456789012345678901234567890123456789012345678901234567890123456789\r\n--B--";
	CHECK(mp_run("B", big, sizeof big - 1, 5, &out, &status) == -1 && status == 413);
	buf_free(&out);
	static const char bad[] = "--B\r\nContent-Disposition: form-data; name=file\n\n";
	CHECK(mp_run("B", bad, sizeof bad - 1, 1, &out, &status) == -1 && status == 400);
	buf_free(&out);
	CHECK(image_magic_ok((const unsigned char *)"\x89PNG\r\n\x1a\n....", 12));
	CHECK(image_magic_ok((const unsigned char *)"RIFF....WEBPVP8 ", 16));
	CHECK(image_magic_ok((const unsigned char *)"\0\0\0\x18"
						    "ftypheic....",
			     16));
	CHECK(!image_magic_ok((const unsigned char *)"<svg xmlns=", 11));
	CHECK(cld_public_id(&(struct arena){0},
			    "https://res.example/c/image/upload/v12/droplink/profile_photos/user_1_ab.jpg") &&
	      !cld_public_id(&(struct arena){0}, "https://res.example/c/image/upload/v12/other/x.jpg"));
}

/* The copy of PostgreSQL's float text must print what the printf-and-strtod way prints. */
static void check_float_text(const char *text)
{
	struct buf fast = {.max = 1024}, slow = {.max = 1024};
	json_py_float_text(&fast, text);
	json_py_float(&slow, strtod(text, NULL));
	bool same = fast.len == slow.len && !memcmp(fast.p, slow.p, fast.len);
	if (!same)
		fprintf(stderr, "float text %s: %.*s vs %.*s\n", text, (int)fast.len, fast.p, (int)slow.len,
			slow.p);
	CHECK(same);
	buf_free(&fast);
	buf_free(&slow);
}

static void test_float_text(void)
{
	static const char *const fixed[] = {
		"0",
		"-0",
		"2.5",
		"100",
		"0.0001",
		"0.00001",
		"1e-05",
		"1e+15",
		"1e+16",
		"NaN",
		"Infinity",
		"-Infinity",
		"123456789012345",
		"1234567890123456",
		"0.1",
		"0.30000000000000004",
		"12.50",
		"007",
		"-3.25",
		"99999999999999.9",
		"3.14159265358979",
		"1.5e300",
		"4.9e-324",
		".5",
		"5.",
		"",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		check_float_text(fixed[i]);
	uint64_t x = 88172645463325252ull; /* xorshift: the same cases every run */
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		char text[64];
		int digits = 1 + (int)(x % 17), scale = (int)((x >> 8) % 40) - 20;
		double v = (double)(x >> 11) / 9007199254740992.0 * pow(10, scale);
		if (x & (1ull << 40))
			v = -v;
		snprintf(text, sizeof text, "%.*g", digits, v); /* PostgreSQL's shortest text or not */
		check_float_text(text);
		snprintf(text, sizeof text, "%.*f", (int)(x >> 50) % 8, v);
		check_float_text(text);
	}
}

int main(void)
{
	test_parse_valid();
	test_parse_invalid();
	test_frame();
	test_chunked();
	test_ct_equal();
	test_iptab();
	test_client_addr();
	test_json();
	test_base64url();
	test_config();
	test_cors_and_routes();
	test_client_ip();
	test_json_reader();
	test_passwords();
	test_multipart();
	test_float_text();
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
