/*
 * droplin: the DropLink backend as one C file.
 *
 * A small HTTP/1.1 server with its own event loop, a bounded PostgreSQL pool, embedded
 * migrations, JWT sessions and outbound HTTPS, linked statically against musl so that the
 * binary runs alone in a FROM scratch image and needs no files at all.
 *
 * Build:   make            (fetches and builds the dependencies once, see vendor/README.md)
 * Run:     make run        (a throwaway PostgreSQL and droplin in development mode)
 * Test:    make test
 * Docs:    docs/configuration.md, docs/architecture.md, `droplin --help`
 *
 * How threads, connections and requests relate
 * --------------------------------------------
 * One event-loop thread owns every socket: it accepts, reads, parses, writes and enforces
 * every timer. A request whose handler is cheap and touches no database (the probes, 404s,
 * CORS preflights) is answered on the loop thread itself, from state that the probe thread
 * keeps fresh, so a probe is never queued behind slow work. Every other request becomes a
 * job on a bounded queue served by WORKER_THREADS worker threads; a worker may block on
 * PostgreSQL, bcrypt or an outbound HTTPS call without slowing any other connection. While
 * its job runs a connection is parked (not polled); the worker hands the finished response
 * back through a completion queue and an eventfd, and the loop thread writes it. Requests
 * on one connection are therefore answered strictly in order, one at a time, which is what
 * HTTP/1.1 pipelining requires.
 *
 * Database connections live in a pool of at most DB_POOL_SIZE, shared by the workers and
 * borrowed only for the queries themselves: CPU work such as bcrypt never holds one. A probe
 * thread applies migrations at start-up (under an advisory lock, so many replicas booting at
 * once apply each exactly once) and then checks the database every DB_PROBE_INTERVAL_MS.
 *
 * Contents
 *   1. Includes, limits and defaults
 *   2. Small utilities: slices, buffers, arena, time, random, constant-time compare, base64url
 *   3. JSON writer and reader
 *   4. Logging
 *   5. Configuration
 *   6. HTTP request parsing
 *   7. HTTP responses, CORS, request context, bodies and validation
 *   8. Event loop and connections
 *   9. Worker pool, stages and the bcrypt threads
 *  10. PostgreSQL pool, probe and migrations
 *  11. Passwords, tokens, rate limits and audit
 *  12. Outbound HTTPS and e-mail
 *  13. Handlers: meta and probes
 *  14. Handlers: accounts
 *  15. Handlers: devices, profile, settings, zones, pins, deletion, telemetry
 *  16. Route table and dispatch
 *  17. Command-line tools: --healthcheck, --check-outbound
 *  18. Signals, drain and main
 */

/* ==== 1. Includes, limits and defaults ============================================= */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>
#include <crypt.h>
#include <curl/curl.h>
#include <jwt.h>
#include <libpq-fe.h>
#include <wctype.h>
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* without them jsmn is quadratic in the keys of an object */
#include <jsmn.h>

#include "droplin_ca_anchors.h"
#include "embedded.h" /* docs/openapi.json and the docs/api files, made by the Makefile */

#ifndef DROPLIN_VERSION
#define DROPLIN_VERSION "0.0.0-unknown"
#endif
#ifndef DROPLIN_LIBRARIES /* "name version (Debian version), licence\n" each: build/gen/libraries.h */
#define DROPLIN_LIBRARIES ""
#endif
#define API_VERSION "1.0.0"                 /* what the original reported in its bodies */
#define UNUSED      __attribute__((unused)) /* helpers the later routes call; the unit tests use them now */
#define STR_(x)     #x
#define STR(x)      STR_(x) /* a number defined below, as text in SQL and in --help */
/* a timestamptz as text (ISO 8601 in UTC, microseconds), whatever the session's DateStyle */
#define SQL_ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* Heartbeats (HEARTBEAT_SECONDS): a replica whose last one is older than this many intervals is
   gone from the fleet; the fleet's history is kept this long and plotted in steps of this long;
   rates and percentiles are over the last minute; a replica silent for longer than twice the
   longest interval leaves a gap in the plots. */
#define HEARTBEAT_GONE_AFTER      3
#define HEARTBEAT_MAX_SECONDS     60
#define FLEET_HISTORY_SECONDS     3600
#define FLEET_BIN_SECONDS         30
#define FLEET_WINDOW_SECONDS      60
#define FLEET_SEGMENT_MAX_SECONDS 120
/* After the drain, threads with nothing to do get this long to stop, SHUTDOWN_TIMEOUT_SECONDS=0
   too: exit 0 when nothing was cut off. */
#define SHUTDOWN_IDLE_STOP_MS 250

enum {
	HTTP_MAX_HEADERS_HARD = 128,      /* storage; MAX_HEADERS (<= this) is the setting */
	HTTP_REQUEST_ID_MAX = 128,        /* longest inbound X-Request-ID we honour */
	HTTP_RBUF_SLACK = 512,            /* read buffer beyond the head limit */
	HTTP_HEAD_EAGER_BYTES = 256,      /* a head line is parsed on every read while this short */
	LOOP_ACCEPTS_PER_WAKE = 64,       /* the rest wait for the next turn of the loop */
	LOOP_RENDER_MAX_BYTES = 64 << 10, /* a loop read's result larger than this: a worker renders it */
	LOOP_WRITE_MAX_BYTES = 1 << 20,   /* written to one connection per turn of the loop */
	LOOP_REQUESTS_PER_TURN = 16,      /* pipelined requests of one connection per turn */
	HTTP_PREFLIGHT_MAX_AGE = 3600,    /* CORS max-age, as the original */
	BUF_POOL_KEEP = 32,               /* free request blocks kept for reuse (about 24 KiB each) */
	RBLOCK_KEEP_BUF = 16384,          /* response buffers up to this size stay with a pooled block */
	LOOP_MAX_EVENTS = 256,            /* epoll_wait batch */
	LOOP_TICK_MIN_MS = 10,            /* bounds of the timer sweep interval */
	LOOP_TICK_MAX_MS = 1000,
	IPTAB_MIN = 1024,                      /* per-address connection counts: at least this many slots */
	CLIENT_KEY_MAX = INET6_ADDRSTRLEN + 4, /* an address, or an IPv6 /64, as limits count it */
	JOB_QUEUE_MAX = 4096,                  /* queued requests before 503 */
	BCRYPT_NICE = 10,                      /* nice value of the bcrypt threads (side_main) */
	JWT_SEGMENT_MAX = 8192,                /* longest base64url header or payload of a token */
	TOKEN_MAX_BYTES = 2048,                /* longest bearer token verified (ours are about 300) */
	SID_BYTES = 16,                        /* random bytes of a session id */
	SID_TEXT = 32,                         /* room for a session id as text (22 base64url chars) */
	PG_POOL_HARD_MAX = 64,                 /* upper bound of DB_POOL_SIZE */
	PG_DOWN_BACKOFF_MS = 250,              /* after a failed connect, fail fast this long */
	PG_MIGRATION_TIMEOUT_MS = 60000,       /* one migration statement */
	INDEX_BUILD_TIMEOUT_MS = 3600000,      /* one CREATE INDEX CONCURRENTLY on a large table */
	LOG_LINE_MAX = 2048,                   /* one JSON log line */
	LOG_BUFFER_BYTES = 512 << 10,          /* each of the two log buffers (stdout may stall) */
	LOG_FLUSH_MS = 1000,                   /* at exit, the longest wait for stdout */
	PG_NAMING_LOCK_TIMEOUT_MS = 100,       /* naming a new link waits this long for a table's lock */
	SHUTDOWN_SIGNAL_CHECK_MS = 100,        /* after the drain, how often a second signal is looked for */
	HEALTHCHECK_TIMEOUT_MS = 3000,         /* droplin --healthcheck */
	OUT_MAX_EXTRA_ANCHORS = 256,           /* certificates read from OUTBOUND_CA_FILE */
	OUT_MAX_RESPONSE = 1 << 20,            /* largest outbound response body kept */
	LINGER_MS = 2000,                      /* after a final response, how long unread input is drained */
	BCRYPT_SETTING_MAX = 128,              /* a bcrypt hash or setting string */
	MAIL_QUEUE_MAX = 256,                  /* e-mails waiting for SendGrid */
	VERR_MAX = 8,                          /* validation errors reported in one 422 */
	JSON_MAX_DEPTH = 256,                  /* nesting of arrays and objects in a request body */
	PHOTO_MAX_BYTES = 10 << 20,            /* the original's 10 MiB photo limit */
	PHOTO_MULTIPART_SLACK = 64 << 10,      /* multipart overhead allowed on top of it (DECISIONS P) */
	THREAD_STACK_BYTES = 256 * 1024,       /* every thread droplin starts */
	PG_CANCELS_MAX = 16,                   /* cancel requests in flight at once (pg_cancel) */
	PG_CANCEL_GRACE_MS = 2000,             /* shutdown: what a cancel in flight is given, at most */
	PASSWORD_MAX_CHARS = 128,              /* register's and login's limit, and the strength check's */
	USERNAME_CHECK_MAX_CHARS = 128,        /* the user name the strength check compares with */
};

/* The original's published secrets: refused in production (DECISIONS S1). */
static const char ORIGINAL_DEFAULT_JWT_SECRET[] = "your-secret-key-change-in-production-12345";
static const char ORIGINAL_ADMIN_SECRET[] = "delete-all-profiles-2024";
enum { SECRET_MIN_BYTES = 32 };

/* ==== 2. Small utilities =========================================================== */

struct slice {
	const char *p;
	size_t n;
};

#define S(lit) ((struct slice){(lit), sizeof(lit) - 1})

static bool sl_eq(struct slice a, const char *lit)
{
	size_t n = strlen(lit);
	return a.n == n && memcmp(a.p, lit, n) == 0;
}

static bool sl_ieq(struct slice a, const char *lit)
{
	size_t n = strlen(lit);
	return a.n == n && strncasecmp(a.p, lit, n) == 0;
}

static struct slice sl_trim(struct slice s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.n--;
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

/* Splits off the next comma-separated element of a header list; false when none is left. */
static bool sl_next_token(struct slice *list, struct slice *tok)
{
	while (list->n) {
		const char *comma = memchr(list->p, ',', list->n);
		size_t len = comma ? (size_t)(comma - list->p) : list->n;
		*tok = sl_trim((struct slice){list->p, len});
		list->p += comma ? len + 1 : len;
		list->n -= comma ? len + 1 : len;
		if (tok->n)
			return true;
	}
	return false;
}

/* A growable byte buffer with a hard cap; appends past the cap set `over` and are dropped. */
struct buf {
	char *p;
	size_t len, cap, max;
	bool over;
	bool borrowed; /* p is not ours to free or realloc (a stack or pool block) */
};

static bool buf_reserve(struct buf *b, size_t extra)
{
	if (b->over)
		return false;
	if (b->len + extra <= b->cap)
		return true;
	if (b->max && b->len + extra > b->max) {
		b->over = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	if (b->max && cap > b->max)
		cap = b->max;
	char *p;
	if (b->borrowed) {
		p = malloc(cap);
		if (p)
			memcpy(p, b->p, b->len);
	} else {
		p = realloc(b->p, cap);
	}
	if (!p) {
		b->over = true;
		return false;
	}
	if (b->borrowed)
		b->borrowed = false; /* the borrowed block stays with its owner */
	b->p = p;
	b->cap = cap;
	return true;
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (n && n <= b->cap - b->len && !b->over) { /* the common case, without a call */
		memcpy(b->p + b->len, data, n);
		b->len += n;
	} else if (n && buf_reserve(b, n)) {
		memcpy(b->p + b->len, data, n);
		b->len += n;
	}
}

static void buf_adds(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* snprintf(dst, cap, "%s", src) without printf: cut at cap - 1 bytes, always terminated. */
static void str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}
static void buf_addc(struct buf *b, char c)
{
	if (b->len < b->cap && !b->over)
		b->p[b->len++] = c;
	else
		buf_add(b, &c, 1);
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		buf_add(b, tmp, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_free(struct buf *b)
{
	if (!b->borrowed)
		free(b->p);
	*b = (struct buf){.max = b->max};
}

/*
 * A per-request arena: bump allocation from chained blocks, all released at once when the
 * response has been handed over. Handlers allocate decoded strings and tokens here.
 */
struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
};

enum { ARENA_BLOCK = 8192 };

static void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = malloc(sizeof *b + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

/* Empties the arena but keeps its first standard block, for the next request on it. */
static void arena_reset(struct arena *a)
{
	struct arena_block *keep = NULL;
	while (a->head) {
		struct arena_block *next = a->head->next;
		if (!next && a->head->size == ARENA_BLOCK)
			keep = a->head;
		else
			free(a->head);
		a->head = next;
	}
	if (keep)
		keep->used = 0;
	a->head = keep;
}

/* Monotonic time, for timers, deadlines and durations. */
static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void) { return now_us() / 1000; }

/*
 * ISO-8601 UTC with microseconds and a trailing Z, the fraction left out when it is zero,
 * as the original's `datetime.utcnow().isoformat() + "Z"` printed it.
 */
static void time_iso_utc(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	long us = ts.tv_nsec / 1000;
	if (us)
		snprintf(out + n, 40 - n, ".%06ldZ", us);
	else
		snprintf(out + n, 40 - n, "Z");
}

/* Bytes from the kernel's CSPRNG; aborts only if the kernel refuses, which it does not. */
static void random_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		p += r;
		n -= (size_t)r;
	}
}

/* Request ids need to be unique, not secret: a per-thread splitmix64 seeded from the CSPRNG. */
static uint64_t random_fast(void)
{
	static _Thread_local uint64_t state;
	if (!state)
		random_bytes(&state, sizeof state);
	uint64_t z = (state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

enum { DIGEST_BYTES = 32 };

static void digest_of(const void *p, size_t n, unsigned char out[DIGEST_BYTES])
{
	br_sha256_context h;
	br_sha256_init(&h);
	br_sha256_update(&h, p, n);
	br_sha256_out(&h, out);
}

/* A given text against a secret's digest taken at start: the time depends only on the text. */
static bool digest_matches(const void *given, size_t n, const unsigned char want[DIGEST_BYTES])
{
	unsigned char got[DIGEST_BYTES], diff = 0;
	digest_of(given, n, got);
	for (size_t i = 0; i < DIGEST_BYTES; i++)
		diff |= got[i] ^ want[i];
	return diff == 0;
}

/*
 * For values whose lengths are public (a MAC, a cached token, a six-digit code): the time does
 * not depend on where the first difference is. A secret, whose length is itself worth hiding,
 * goes through digest_matches instead.
 */
static bool ct_equal(const void *a, size_t an, const void *b, size_t bn)
{
	const unsigned char *x = a, *y = b;
	unsigned char diff = an != bn;
	size_t n = an < bn ? an : bn;
	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; `out` holds 4*ceil(n/3)+1 bytes. Returns the length written. */
static size_t b64url_encode(char *out, const void *in, size_t n)
{
	const unsigned char *s = in;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
		out[o++] = B64URL[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
	}
	out[o] = 0;
	return o;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url decoding without padding: returns the decoded length, or -1 for a
 * character outside the alphabet, an impossible length, or non-zero trailing bits.
 * `out` holds at least 3*n/4 bytes.
 */
static UNUSED ssize_t b64url_decode(unsigned char *out, const char *in, size_t n)
{
	if (n % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (ssize_t)o;
}

/* Parses a whole decimal number in [min, max]; false on anything else. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Unicode code points in valid UTF-8, as Python's len() counts them. */
static size_t utf8_len(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += ((unsigned char)s[i] & 0xc0) != 0x80;
	return count;
}

/* ==== 3. JSON writer and reader ==================================================== */

/*
 * Length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one: overlong
 * forms, surrogates and code points past U+10FFFF are invalid (RFC 3629).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned cp, min;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Decodes one code point; an invalid byte decodes as itself, one byte long. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t len = utf8_seq_len(s, n);
	if (len <= 1) {
		*cp = s[0];
		return 1;
	}
	*cp = s[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
	for (size_t i = 1; i < len; i++)
		*cp = *cp << 6 | (s[i] & 0x3f);
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq_len((const unsigned char *)s + i, n - i);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

/* \uXXXX for one valid UTF-8 sequence, as a surrogate pair beyond the BMP. */
static void json_escape_cp(struct buf *b, const unsigned char *u, size_t len)
{
	unsigned cp;
	utf8_decode(u, len, &cp);
	if (cp < 0x10000) {
		buf_printf(b, "\\u%04x", cp);
		return;
	}
	cp -= 0x10000;
	buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
}

/*
 * Appends s as a JSON string. Control characters are escaped; invalid UTF-8 becomes
 * U+FFFD, so droplin's output is always valid JSON whatever a user managed to store.
 * Non-ASCII is written as is, as the original did, or escaped when `ascii` is set.
 */
/* Bytes a JSON string may hold as they are: printable ASCII but the quote and the backslash. */
static const bool JSON_PLAIN[256] = {[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7e] = true};

static void json_str_opt(struct buf *b, const char *s, size_t n, bool ascii)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t plain_n = 0; /* printable ASCII, the bulk of any text, is copied as one piece */
	while (plain_n < n && JSON_PLAIN[u[plain_n]])
		plain_n++;
	if (plain_n == n) {
		if (buf_reserve(b, n + 2)) {
			char *p = b->p + b->len;
			p[0] = '"';
			if (n) /* s may be NULL when n is 0 (a request that failed before its method) */
				memcpy(p + 1, s, n);
			p[n + 1] = '"';
			b->len += n + 2;
		}
		return;
	}
	buf_addc(b, '"');
	size_t run = 0; /* bytes copied verbatim at once */
	for (size_t i = 0; i < n;) {
		while (i < n && JSON_PLAIN[u[i]])
			i++, run++;
		if (i == n)
			break;
		unsigned char c = u[i];
		size_t len = c < 0x80 ? 1 : utf8_seq_len(u + i, n - i);
		bool plain =
			(len > 1 && !ascii) || (len == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f);
		if (plain) {
			i += len;
			run += len;
			continue;
		}
		buf_add(b, u + i - run, run);
		run = 0;
		if (!len && ascii)
			buf_adds(b, "\\ufffd");
		else if (!len)
			buf_adds(b, "\xef\xbf\xbd");
		else if (len > 1)
			json_escape_cp(b, u + i, len);
		else if (c == '"')
			buf_adds(b, "\\\"");
		else if (c == '\\')
			buf_adds(b, "\\\\");
		else if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\t')
			buf_adds(b, "\\t");
		else
			buf_printf(b, "\\u%04x", c);
		i += len ? len : 1;
	}
	buf_add(b, u + n - run, run);
	buf_addc(b, '"');
}

static void json_str(struct buf *b, const char *s, size_t n) { json_str_opt(b, s, n, false); }

/* As Python's json.dumps with ensure_ascii (the audit details the original wrote). */
static void json_str_ascii(struct buf *b, const char *s, size_t n) { json_str_opt(b, s, n, true); }

static void json_cstr(struct buf *b, const char *s) { json_str(b, s, strlen(s)); }

/* `"key":` with a leading comma unless the object was just opened. */
static void json_key(struct buf *b, const char *key)
{
	if (b->len && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[')
		buf_addc(b, ',');
	json_cstr(b, key);
	if (b->len < b->cap && !b->over)
		b->p[b->len++] = ':';
	else
		buf_addc(b, ':');
}

static void json_kv_str(struct buf *b, const char *key, const char *v)
{
	json_key(b, key);
	json_cstr(b, v);
}

/* A decimal integer, without printf: rows of ids and numbers are written per request. */
static void buf_int(struct buf *b, long long v)
{
	char tmp[24], *e = tmp + sizeof tmp, *p = e;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(e - p));
}

static void json_kv_int(struct buf *b, const char *key, long long v)
{
	json_key(b, key);
	buf_int(b, v);
}

static void json_kv_bool(struct buf *b, const char *key, bool v)
{
	json_key(b, key);
	buf_adds(b, v ? "true" : "false");
}

/* A number to three decimals, or null where there is none (NAN). */
static void json_kv_num(struct buf *b, const char *key, double v)
{
	json_key(b, key);
	if (isfinite(v))
		buf_printf(b, "%.3f", v);
	else
		buf_adds(b, "null");
}

/* --- JSON reader: jsmn tokens, checked and decoded here --- */

/*
 * jsmn splits the text into tokens without copying; it does not check numbers, escapes or
 * UTF-8, so json_parse() walks every token once more and refuses what Python's json module
 * would refuse. Strings are decoded on demand into the request's arena.
 */
struct json {
	const char *s;
	jsmntok_t *t;
	int n;
	int error_pos; /* where parsing failed, for the 422 field (the original gave the offset) */
};

enum json_kind { JK_NONE, JK_OBJECT, JK_ARRAY, JK_STRING, JK_NUMBER, JK_TRUE, JK_FALSE, JK_NULL };

static bool json_number_ok(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && isdigit((unsigned char)p[i]))
			i++;
	else
		return false;
	if (i < n && p[i] == '.') {
		size_t d = ++i;
		while (i < n && isdigit((unsigned char)p[i]))
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && isdigit((unsigned char)p[i]))
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

static enum json_kind json_kind(const struct json *j, int i)
{
	if (i < 0 || i >= j->n)
		return JK_NONE;
	const jsmntok_t *t = &j->t[i];
	switch (t->type) {
	case JSMN_OBJECT: return JK_OBJECT;
	case JSMN_ARRAY: return JK_ARRAY;
	case JSMN_STRING: return JK_STRING;
	default: break;
	}
	char c = j->s[t->start];
	return c == 't' ? JK_TRUE : c == 'f' ? JK_FALSE : c == 'n' ? JK_NULL : JK_NUMBER;
}

/* Index of the token after i and everything inside it (iterative: nesting is unbounded). */
static int json_skip(const struct json *j, int i)
{
	int pending = 1;
	while (pending > 0 && i < j->n) {
		pending += j->t[i].size - 1;
		i++;
	}
	return i;
}

/* Raw string bytes: valid UTF-8 and no raw control characters (RFC 8259). */
static bool json_raw_string_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20)
			return false;
	return utf8_valid(p, n);
}

/*
 * A strict RFC 8259 syntax check that reports where it failed the way Python's json module
 * does (the original's 422 names that character offset). Returns -1 when the text is valid,
 * else the offset in characters. Nesting deeper than JSON_MAX_DEPTH is refused.
 */
static size_t json_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* A string starting at the quote at i; returns the index after it, or -1 with *err set. */
static long json_syntax_string(const char *s, size_t n, size_t i, size_t *err)
{
	size_t start = i++;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return (long)i + 1;
		if (c < 0x20) {
			*err = i;
			return -1;
		}
		if (c == '\\') {
			char e = i + 1 < n ? s[i + 1] : 0;
			bool ok = e && strchr("\"\\/bfnrt", e);
			if (e == 'u') {
				ok = i + 5 < n;
				for (size_t k = 2; ok && k < 6; k++)
					ok = isxdigit((unsigned char)s[i + k]);
				i += 4;
			}
			if (!ok) {
				*err = e == 'u' ? i - 4 : i;
				return -1;
			}
			i += 2;
			continue;
		}
		size_t len = c < 0x80 ? 1 : utf8_seq_len((const unsigned char *)s + i, n - i);
		if (!len) {
			*err = i;
			return -1;
		}
		i += len;
	}
	*err = start; /* unterminated */
	return -1;
}

/* -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)? as Python's scanner reads it; 0 when no number. */
static size_t json_syntax_number(const char *s, size_t n, size_t i)
{
	size_t start = i;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	else
		return 0;
	if (i + 1 < n && s[i] == '.' && isdigit((unsigned char)s[i + 1]))
		for (i++; i < n && isdigit((unsigned char)s[i]);)
			i++;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = i + 1 + (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-'));
		if (e < n && isdigit((unsigned char)s[e]))
			for (i = e; i < n && isdigit((unsigned char)s[i]);)
				i++;
	}
	return i - start;
}

static long json_syntax(const char *s, size_t n)
{
	char stack[JSON_MAX_DEPTH];
	int depth = 0;
	enum { S_VALUE, S_KEY, S_AFTER } st = S_VALUE;
	size_t i = 0, err = 0;
	for (;;) {
		i = json_ws(s, n, i);
		char c = i < n ? s[i] : 0;
		if (st == S_AFTER) {
			if (!depth) {
				if (i == n)
					return -1;
				err = i; /* extra data */
				break;
			}
			if (c == ',') {
				i++;
				st = stack[depth - 1] == '{' ? S_KEY : S_VALUE;
			} else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
				i++;
				depth--;
			} else {
				err = i;
				break;
			}
			continue;
		}
		if (st == S_KEY) {
			long end = c == '"' ? json_syntax_string(s, n, i, &err) : (err = i, -1);
			if (end < 0)
				break;
			i = json_ws(s, n, (size_t)end);
			if (i >= n || s[i] != ':') {
				err = i;
				break;
			}
			i++;
			st = S_VALUE;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == JSON_MAX_DEPTH) {
				err = i;
				break;
			}
			stack[depth++] = c;
			i = json_ws(s, n, i + 1);
			if (i < n && s[i] == (c == '{' ? '}' : ']')) {
				i++, depth--;
				st = S_AFTER;
			} else {
				st = c == '{' ? S_KEY : S_VALUE;
			}
			continue;
		}
		size_t len = 0;
		if (c == '"') {
			long end = json_syntax_string(s, n, i, &err);
			if (end < 0)
				break;
			len = (size_t)end - i;
		} else if (c == '-' || isdigit((unsigned char)c)) {
			len = json_syntax_number(s, n, i);
		} else {
			static const char *const lits[] = {"true", "false", "null"};
			for (int k = 0; k < 3 && !len; k++)
				if (n - i >= strlen(lits[k]) && !memcmp(s + i, lits[k], strlen(lits[k])))
					len = strlen(lits[k]);
		}
		if (!len) {
			err = i; /* expecting value */
			break;
		}
		i += len;
		st = S_AFTER;
	}
	return (long)utf8_len(s, err); /* Python counts characters, not bytes */
}

static int json_parse(struct arena *a, const char *s, size_t len, struct json *j)
{
	jsmn_parser p;
	*j = (struct json){.s = s, .error_pos = 0};
	long bad = json_syntax(s, len);
	if (bad >= 0) {
		j->error_pos = (int)bad;
		return -1;
	}
	size_t first = json_ws(s, len, 0);
	if (s[first] != '{' && s[first] != '[') { /* a lone scalar: jsmn wants a container */
		size_t end = len;
		while (end > first && strchr(" \t\r\n", s[end - 1]))
			end--;
		bool str = s[first] == '"';
		j->t = arena_alloc(a, sizeof *j->t);
		if (!j->t)
			return -1;
		j->t[0] = (jsmntok_t){.type = str ? JSMN_STRING : JSMN_PRIMITIVE,
				      .start = (int)first + str,
				      .end = (int)end - str,
				      .parent = -1};
		j->n = 1;
		return 0;
	}
	jsmn_init(&p);
	int n = jsmn_parse(&p, s, len, NULL, 0);
	if (n <= 0) {
		j->error_pos = (int)p.pos;
		return -1;
	}
	j->t = arena_alloc(a, (size_t)n * sizeof *j->t);
	if (!j->t)
		return -1;
	jsmn_init(&p);
	j->n = jsmn_parse(&p, s, len, j->t, (unsigned)n);
	if (j->n != n || json_skip(j, 0) != n)
		return -1; /* more than one value at the top */
	for (size_t k = (size_t)j->t[0].end; k < len; k++)
		if (!strchr(" \t\r\n", s[k]))
			return j->error_pos = (int)k, -1;
	for (int i = 0; i < n; i++) {
		const jsmntok_t *t = &j->t[i];
		const char *v = s + t->start;
		size_t vn = (size_t)(t->end - t->start);
		bool ok = true;
		if (t->type == JSMN_STRING)
			ok = json_raw_string_ok(v, vn);
		else if (t->type == JSMN_PRIMITIVE)
			ok = (vn == 4 && !memcmp(v, "true", 4)) || (vn == 5 && !memcmp(v, "false", 5)) ||
			     (vn == 4 && !memcmp(v, "null", 4)) || json_number_ok(v, vn);
		if (ok && t->parent >= 0 && j->t[t->parent].type == JSMN_OBJECT) /* a key: one value */
			ok = t->type == JSMN_STRING && t->size == 1;
		if (!ok) {
			j->error_pos = t->start;
			return -1;
		}
	}
	return 0;
}

/* Value token of `key` in the object at index obj, or -1. The last duplicate wins, as in Python. */
static int json_get(const struct json *j, int obj, const char *key)
{
	if (json_kind(j, obj) != JK_OBJECT)
		return -1;
	size_t kn = strlen(key);
	int found = -1;
	for (int k = obj + 1, left = j->t[obj].size; left > 0; left--) {
		const jsmntok_t *t = &j->t[k];
		/* keys with escapes never match our plain ASCII field names */
		if ((size_t)(t->end - t->start) == kn && !memcmp(j->s + t->start, key, kn))
			found = k + 1;
		k = json_skip(j, k + 1);
	}
	return found;
}

static unsigned json_hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v << 4 |
		    (unsigned)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
	}
	return v;
}

static size_t utf8_put(char *out, unsigned cp)
{
	if (cp < 0x80)
		return out[0] = (char)cp, 1;
	if (cp < 0x800)
		return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The decoded string at token i, NUL-terminated, in the arena; NULL when it is not a string
 * or decodes to invalid UTF-8 (a lone surrogate escape). *len gets its byte length; a NUL
 * escape (\u0000) is kept, so callers that need C strings check strlen against it.
 */
static char *json_string(const struct json *j, int i, struct arena *a, size_t *len)
{
	if (json_kind(j, i) != JK_STRING)
		return NULL;
	const char *p = j->s + j->t[i].start;
	size_t n = (size_t)(j->t[i].end - j->t[i].start), o = 0;
	char *out = arena_alloc(a, n + 1);
	if (!out)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		if (p[k] != '\\') {
			out[o++] = p[k];
			continue;
		}
		char e = p[++k];
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *f = strchr(from, e);
		if (e != 'u') {
			if (!f)
				return NULL;
			out[o++] = to[f - from];
			continue;
		}
		if (k + 4 >= n) /* jsmn checked the four hex digits; stay safe anyway */
			return NULL;
		unsigned cp = json_hex4(p + k + 1);
		k += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair, or invalid */
			if (k + 6 >= n || p[k + 1] != '\\' || p[k + 2] != 'u')
				return NULL;
			unsigned lo = json_hex4(p + k + 3);
			if (lo < 0xdc00 || lo > 0xdfff)
				return NULL;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			k += 6;
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return NULL;
		}
		o += utf8_put(out + o, cp);
	}
	out[o] = 0;
	*len = o;
	return out;
}

/* A whole number that fits in long long (Python ints of that size; 1.0 is not an int). */
static bool json_int(const struct json *j, int i, long long *out)
{
	if (json_kind(j, i) != JK_NUMBER)
		return false;
	const char *p = j->s + j->t[i].start;
	size_t n = (size_t)(j->t[i].end - j->t[i].start);
	if (memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n) || n > 19)
		return false;
	char tmp[24];
	memcpy(tmp, p, n);
	tmp[n] = 0;
	return parse_int(tmp, LLONG_MIN, LLONG_MAX, out);
}

static bool json_double(const struct json *j, int i, double *out)
{
	if (json_kind(j, i) != JK_NUMBER)
		return false;
	char tmp[64];
	size_t n = (size_t)(j->t[i].end - j->t[i].start);
	if (n >= sizeof tmp)
		return false;
	memcpy(tmp, j->s + j->t[i].start, n);
	tmp[n] = 0;
	*out = strtod(tmp, NULL);
	return true;
}

/* ==== 4. Logging =================================================================== */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
static const char *const LOG_LEVEL_NAMES[] = {"debug", "info", "warn", "error"};
static enum log_level log_min = LOG_INFO;
static const char *log_replica = "";

/*
 * One JSON object per line on stdout. A line goes whole into one of two buffers under one lock
 * (lines of several threads never interleave); the log thread writes the other buffer out. No
 * thread that serves requests ever waits for stdout: when the pipe behind it stops, lines
 * that do not fit are dropped and counted (droplin_log_lines_dropped_total), and one line
 * says how many once writing works again. Before the thread starts, and after it stopped,
 * lines are written at once.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char buf[2][LOG_BUFFER_BYTES];
	size_t len[2];
	int active; /* the buffer lines go into */
	bool running, stop;
	uint64_t dropped, dropped_told;
	pthread_t thread;
} LOGQ = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Writes all of p, or returns how many of its lines it could not (stdout closed, say). */
static uint64_t write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w, n -= (size_t)w;
	}
	uint64_t lines = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	return lines;
}

static void log_put(const char *line, size_t n)
{
	pthread_mutex_lock(&LOGQ.mu);
	if (!LOGQ.running) {
		LOGQ.dropped += write_all(STDOUT_FILENO, line, n);
	} else if (LOGQ.len[LOGQ.active] + n <= LOG_BUFFER_BYTES) {
		if (!LOGQ.len[LOGQ.active]) /* the log thread sleeps only on an empty buffer */
			pthread_cond_signal(&LOGQ.cv);
		memcpy(LOGQ.buf[LOGQ.active] + LOGQ.len[LOGQ.active], line, n);
		LOGQ.len[LOGQ.active] += n;
	} else {
		LOGQ.dropped++;
	}
	pthread_mutex_unlock(&LOGQ.mu);
}

static size_t log_line(char line[LOG_LINE_MAX], enum log_level lvl, const char *msg,
		       const struct buf *fields);

static void *log_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&LOGQ.mu);
	for (;;) {
		while (!LOGQ.len[LOGQ.active] && !LOGQ.stop)
			pthread_cond_wait(&LOGQ.cv, &LOGQ.mu);
		int full = LOGQ.active;
		if (!LOGQ.len[full]) /* stopping, and all is written */
			break;
		LOGQ.active ^= 1;
		uint64_t dropped = LOGQ.dropped - LOGQ.dropped_told;
		LOGQ.dropped_told = LOGQ.dropped;
		pthread_mutex_unlock(&LOGQ.mu);
		uint64_t lost = 0;
		if (dropped && LOG_WARN >= log_min) { /* before the lines after them: the last line of
							 a shutdown stays its last */
			char msg[96], line[LOG_LINE_MAX];
			snprintf(msg, sizeof msg, "%llu log lines dropped: stdout was not taking them",
				 (unsigned long long)dropped);
			lost += write_all(STDOUT_FILENO, line, log_line(line, LOG_WARN, msg, NULL));
		}
		lost += write_all(STDOUT_FILENO, LOGQ.buf[full], LOGQ.len[full]); /* may wait */
		pthread_mutex_lock(&LOGQ.mu);
		LOGQ.len[full] = 0;
		LOGQ.dropped += lost;
		LOGQ.dropped_told += lost; /* no line can tell of them where they could not go */
	}
	LOGQ.running = false;
	pthread_mutex_unlock(&LOGQ.mu);
	return NULL;
}

static int log_start(void)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
	pthread_mutex_lock(&LOGQ.mu);
	int rc = pthread_create(&LOGQ.thread, &attr, log_main, NULL);
	LOGQ.running = !rc;
	pthread_mutex_unlock(&LOGQ.mu);
	pthread_attr_destroy(&attr);
	if (!rc)
		pthread_setname_np(LOGQ.thread, "dl-log");
	return rc;
}

static uint64_t log_dropped(void)
{
	pthread_mutex_lock(&LOGQ.mu);
	uint64_t n = LOGQ.dropped;
	pthread_mutex_unlock(&LOGQ.mu);
	return n;
}

static bool join_by(pthread_t t, int64_t mono_deadline);

/* Writes what is buffered, for at most until `deadline` (stdout may be stuck). */
static void log_stop(int64_t deadline)
{
	pthread_mutex_lock(&LOGQ.mu);
	bool running = LOGQ.running;
	LOGQ.stop = true;
	pthread_cond_signal(&LOGQ.cv);
	pthread_mutex_unlock(&LOGQ.mu);
	if (running)
		join_by(LOGQ.thread, deadline);
}

/* One JSON line into `line`, its length returned; `fields` is either NULL or a buffer of
   `"key":value` pairs. */
static size_t log_line(char line[LOG_LINE_MAX], enum log_level lvl, const char *msg, const struct buf *fields)
{
	char ts[40];
	time_iso_utc(ts);
	struct buf b = {.p = line, .cap = LOG_LINE_MAX, .max = LOG_LINE_MAX - 2, .borrowed = true};
	buf_adds(&b, "{\"time\":\"");
	buf_adds(&b, ts);
	buf_adds(&b, "\",\"level\":\"");
	buf_adds(&b, LOG_LEVEL_NAMES[lvl]);
	buf_adds(&b, "\",\"message\":");
	json_cstr(&b, msg);
	if (fields && fields->len) {
		buf_addc(&b, ',');
		buf_add(&b, fields->p, fields->len);
	}
	json_kv_str(&b, "replica", log_replica);
	if (b.over || b.p != line) { /* never truncate into invalid JSON */
		if (b.p != line)
			free(b.p);
		b = (struct buf){.p = line, .cap = LOG_LINE_MAX, .borrowed = true};
		buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"message\":\"log line too long\"", ts,
			   LOG_LEVEL_NAMES[lvl]);
	}
	buf_adds(&b, "}\n");
	return b.len;
}

static void log_emit(enum log_level lvl, const char *msg, const struct buf *fields)
{
	if (lvl < log_min)
		return;
	char line[LOG_LINE_MAX];
	log_put(line, log_line(line, lvl, msg, fields));
}

__attribute__((format(printf, 2, 3))) static void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min)
		return;
	char msg[LOG_LINE_MAX / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_emit(lvl, msg, NULL);
}

/* --- GET /metrics: Prometheus text format (DECISIONS O3) --- */

/*
 * Counted on the loop thread when a response is logged, so no locks: requests by route
 * template (never the raw path) and status, and a latency histogram per route.
 */
static const int METRIC_STATUSES[] = {200, 307, 400, 401, 403, 404, 405, 408, 409, 413,
				      417, 422, 423, 429, 431, 500, 502, 503, 505};
enum { METRIC_STATUS_OTHER = sizeof METRIC_STATUSES / sizeof METRIC_STATUSES[0], METRIC_ROUTES_MAX = 64 };
static const double METRIC_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					0.25,  0.5,    1,     2.5,  5,     10};
enum { METRIC_N_BUCKETS = sizeof METRIC_BUCKETS / sizeof METRIC_BUCKETS[0] };

static struct {
	uint64_t requests[METRIC_ROUTES_MAX + 1][METRIC_STATUS_OTHER + 1]; /* last row: no route */
	uint64_t buckets[METRIC_ROUTES_MAX + 1][METRIC_N_BUCKETS];         /* not cumulative here */
	uint64_t count[METRIC_ROUTES_MAX + 1];
	double sum[METRIC_ROUTES_MAX + 1];
	uint64_t refused;
	uint64_t loop_reads;  /* R_READ requests the loop answered from its own pipeline */
	uint64_t loop_writes; /* R_WRITE requests the loop committed itself */
} MT;

/*
 * The same requests over all routes, for the heartbeat thread (HEARTBEAT_SECONDS): the latency
 * histogram of /metrics (the last slot counts those above its largest bound, so the slots add
 * up to every request) and the 5xx among them (but a probe's 503, which is the replica's state
 * and not a failure). One writer, the loop thread: relaxed atomics, no read-modify-write and no
 * lock.
 */
static struct {
	atomic_uint_least64_t buckets[METRIC_N_BUCKETS + 1], errors;
	atomic_int in_flight; /* requests off the loop (L.n_busy) at the loop's last timer sweep */
} MT_ALL;

static void counter_bump(atomic_uint_least64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

struct route;
static size_t metric_route_index(const struct route *r);

static void metrics_record(const struct route *route, int status, double seconds)
{
	size_t r = metric_route_index(route), s = METRIC_STATUS_OTHER, b = 0;
	for (size_t i = 0; i < METRIC_STATUS_OTHER; i++)
		if (METRIC_STATUSES[i] == status)
			s = i;
	MT.requests[r][s]++;
	while (b < METRIC_N_BUCKETS && seconds > METRIC_BUCKETS[b])
		b++;
	if (b < METRIC_N_BUCKETS)
		MT.buckets[r][b]++;
	MT.count[r]++;
	MT.sum[r] += seconds;
	counter_bump(&MT_ALL.buckets[b]);
}

/* ==== 5. Configuration ============================================================= */

/*
 * Everything comes from the environment (12-factor). The table below is the single source of
 * truth for names, defaults, ranges and the text of `droplin --help`.
 */
struct config {
	const char *env; /* production | development */
	bool dev;
	const char *host;
	long long port;
	const char *database_url;
	const char *jwt_secret, *previous_jwt_secret, *next_jwt_secret, *admin_secret;
	long long jwt_key_version;
	long long db_pool_size, db_acquire_timeout_ms, db_connect_timeout_ms, db_query_timeout_ms;
	long long db_probe_interval_ms, health_stale_ms;
	double drain_seconds, shutdown_timeout_seconds;
	long long head_timeout_ms, idle_timeout_ms, keepalive_timeout_ms, body_timeout_ms;
	long long body_min_bytes_per_second;
	long long max_connections, max_connections_per_ip;
	long long max_head_bytes, max_headers, max_json_body, max_buffered_body_bytes;
	long long max_buffered_body_bytes_per_client;
	long long worker_threads;
	const char *cors_origins;
	long long trust_proxy;
	const char *log_level;
	const char *replica, *region;
	const char *outbound_ca_file, *outbound_resolve;
	long long outbound_timeout_ms;
	/* accounts */
	long long bcrypt_cost, bcrypt_threads, bcrypt_queue_max;
	long long access_token_expire_days, activity_timeout_minutes, remember_me_timeout_days;
	long long jwt_leeway_seconds, session_touch_seconds;
	long long lockout_attempts, lockout_seconds, code_ttl_seconds, code_max_attempts;
	const char *rate_register, *rate_login, *rate_code_email, *rate_code_ip, *rate_log_api_call;
	const char *rate_change_password;
	long long bcrypt_share_max;
	const char *sendgrid_api_key, *sendgrid_api_base, *from_email;
	const char *cloudinary_url, *cloudinary_cloud_name, *cloudinary_api_key, *cloudinary_api_secret;
	const char *cloudinary_api_base, *cloudinary_signature_algorithm;
	const char *metrics_token;
	long long metrics_public;
	unsigned char admin_digest[DIGEST_BYTES], metrics_digest[DIGEST_BYTES]; /* set at start */
	long long allow_clear_all_data;
	long long retention_interval_seconds, audit_retention_days, api_call_log_retention_days;
	double heartbeat_seconds;
	long long db_prepared_statements;
	long long db_loop_reads;
	long long outbound_threads, outbound_queue_max;
};

enum cfg_type { CFG_STR, CFG_INT, CFG_SECONDS };

struct cfg_var {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def; /* NULL: unset by default */
	long long min, max;
	const char *help;
};

/* clang-format off */
#define CFG(name, type, field, def, min, max, help) \
	{name, type, offsetof(struct config, field), def, min, max, help}
/* clang-format on */

static const struct cfg_var CFG_VARS[] = {
	CFG("DROPLIN_ENV", CFG_STR, env, "production", 0, 0,
	    "production or development. Development allows missing secrets (random per process), "
	    "the original's local CORS origins and logged e-mail codes."),
	CFG("PORT", CFG_INT, port, "8080", 0, 65535, "TCP port to listen on (0: any free port, logged)."),
	CFG("HOST", CFG_STR, host, "::", 0, 0,
	    "Address to listen on; the default [::] is dual-stack and accepts IPv4 too."),
	CFG("DATABASE_URL", CFG_STR, database_url, "", 0, 0,
	    "PostgreSQL connection string or URL, passed to libpq as given; required in production. "
	    "Inside a scratch image "
	    "give user= and the password in it."),
	CFG("JWT_SECRET_KEY", CFG_STR, jwt_secret, NULL, 0, 0,
	    "HS256 signing key, at least 32 bytes. Required in production."),
	CFG("PREVIOUS_JWT_SECRET_KEY", CFG_STR, previous_jwt_secret, NULL, 0, 0,
	    "Previous signing key, accepted for verification during a key rotation. Held to the rule "
	    "of JWT_SECRET_KEY: in production a short or published one stops start-up."),
	CFG("NEXT_JWT_SECRET_KEY", CFG_STR, next_jwt_secret, NULL, 0, 0,
	    "The key a rotation will switch to, accepted for verification (version JWT_KEY_VERSION+1) "
	    "before any replica signs with it, so old and new replicas accept each other's tokens. Held "
	    "to the rule of JWT_SECRET_KEY."),
	CFG("JWT_KEY_VERSION", CFG_INT, jwt_key_version, "1", 1, 1000000,
	    "Current key version written into tokens; tokens of the previous key carry one less."),
	CFG("ADMIN_SECRET", CFG_STR, admin_secret, NULL, 0, 0,
	    "Secret for the admin routes (header `secret`, or HTTP Basic password). Required in "
	    "production."),
	CFG("DB_PREPARED_STATEMENTS", CFG_INT, db_prepared_statements, "1", 0, 1,
	    "0 sends every query unnamed (no prepared statements, no session state): set it behind PgBouncer "
	    "in transaction mode."),
	CFG("DB_LOOP_READS", CFG_INT, db_loop_reads, "1", 0, 1,
	    "1 lets the event thread answer the plain reads (profile, settings, devices, zones, pins) "
	    "itself, with the session check and the read in one pipelined round trip, and commit "
	    "device saves and profile saves (those without a new phone or e-mail) in two; 0 sends "
	    "them to the workers like every other database route."),
	CFG("DB_POOL_SIZE", CFG_INT, db_pool_size, "4", 1, PG_POOL_HARD_MAX,
	    "Most PostgreSQL connections this replica opens. Size replicas x DB_POOL_SIZE against "
	    "max_connections."),
	CFG("DB_ACQUIRE_TIMEOUT_MS", CFG_INT, db_acquire_timeout_ms, "2000", 1, 600000,
	    "Longest a request waits for a pooled connection before it gets 503."),
	CFG("DB_CONNECT_TIMEOUT_MS", CFG_INT, db_connect_timeout_ms, "3000", 1, 600000,
	    "Longest a new database connection may take to open, the lookup of its host name "
	    "included when DATABASE_URL names a single host (a list, PGHOST, PGHOSTADDR or a "
	    "service is looked up by libpq)."),
	CFG("DB_QUERY_TIMEOUT_MS", CFG_INT, db_query_timeout_ms, "5000", 1, 3600000,
	    "Longest one query may run; past it droplin cancels it and answers 503."),
	CFG("DB_PROBE_INTERVAL_MS", CFG_INT, db_probe_interval_ms, "500", 10, 60000,
	    "How often the probe thread checks the database (and maintenance retries migrations)."),
	CFG("HEALTH_STALE_MS", CFG_INT, health_stale_ms, "2000", 10, 600000,
	    "/health answers 503 when the database has not answered for this long."),
	CFG("DRAIN_SECONDS", CFG_SECONDS, drain_seconds, "3", 0, 3600,
	    "After SIGTERM/SIGINT: keep serving (with /ready at 503) this long before closing the "
	    "listener."),
	CFG("SHUTDOWN_TIMEOUT_SECONDS", CFG_SECONDS, shutdown_timeout_seconds, "10", 0, 3600,
	    "After SIGTERM/SIGINT: exit at the latest after this long, in-flight requests or queued mail or "
	    "not (exit status 1 when something was cut off; threads with nothing to do get " STR(
		    SHUTDOWN_IDLE_STOP_MS) " ms to stop, even with 0)."),
	CFG("HEAD_TIMEOUT_MS", CFG_INT, head_timeout_ms, "10000", 1, 3600000,
	    "Whole-head deadline: a request head must arrive within this long."),
	CFG("IDLE_TIMEOUT_MS", CFG_INT, idle_timeout_ms, "30000", 1, 3600000,
	    "Longest pause while reading a request body."),
	CFG("BODY_TIMEOUT_MS", CFG_INT, body_timeout_ms, "60000", 1, 3600000,
	    "Whole-body deadline: a request body must arrive within this long of its head, plus "
	    "the time what arrived takes at BODY_MIN_BYTES_PER_SECOND (408 after it), however "
	    "steadily it trickles in."),
	CFG("BODY_MIN_BYTES_PER_SECOND", CFG_INT, body_min_bytes_per_second, "8192", 1, 1073741824,
	    "Slowest upload that may take longer than BODY_TIMEOUT_MS: each byte received adds "
	    "1/this seconds to the body's deadline (a 10 MiB photo at 64 kbit/s finishes)."),
	CFG("KEEPALIVE_TIMEOUT_MS", CFG_INT, keepalive_timeout_ms, "75000", 1, 3600000,
	    "Idle keep-alive connections close after this long (longer than Railway's 60 s)."),
	CFG("MAX_CONNECTIONS", CFG_INT, max_connections, "10000", 1, 1000000,
	    "Cap on open client connections; past it new connections get 503."),
	CFG("MAX_CONNECTIONS_PER_IP", CFG_INT, max_connections_per_ip, "256", 1, 1000000,
	    "Cap on open connections from one address (not applied with TRUST_PROXY=1: the peer is then "
	    "the proxy)."),
	CFG("MAX_HEAD_BYTES", CFG_INT, max_head_bytes, "16384", 1024, 1048576,
	    "Largest request head (request line and headers); larger gets 431."),
	CFG("MAX_HEADERS", CFG_INT, max_headers, "100", 8, HTTP_MAX_HEADERS_HARD,
	    "Most header fields in a request; more gets 431."),
	CFG("MAX_JSON_BODY", CFG_INT, max_json_body, "65536", 1024, 16777216,
	    "Largest request body outside the photo upload; larger gets 413."),
	CFG("MAX_BUFFERED_BODY_BYTES", CFG_INT, max_buffered_body_bytes, "134217728",
	    PHOTO_MAX_BYTES + PHOTO_MULTIPART_SLACK, 68719476736LL,
	    "Request body bytes held in memory at once, all connections together; a request that "
	    "would go past it gets 503 and its connection closes."),
	CFG("MAX_BUFFERED_BODY_BYTES_PER_CLIENT", CFG_INT, max_buffered_body_bytes_per_client, "0", 0,
	    68719476736LL,
	    "The share of MAX_BUFFERED_BODY_BYTES one client address (an IPv6 /64) may hold; past it "
	    "its request gets 503 (0: a quarter of MAX_BUFFERED_BODY_BYTES, and at least one photo)."),
	CFG("WORKER_THREADS", CFG_INT, worker_threads, "0", 0, 256,
	    "Threads that run database, bcrypt and outbound work (0: DB_POOL_SIZE + cores)."),
	CFG("CORS_ORIGINS", CFG_STR, cors_origins, NULL, 0, 0,
	    "Comma-separated allowed browser origins. Unset: none in production, the original's "
	    "local-development origins in development."),
	CFG("TRUST_PROXY", CFG_INT, trust_proxy, "0", 0, 32,
	    "Number of proxies in front of droplin (Railway: 1); the client address is the N-th "
	    "from the right of X-Forwarded-For."),
	CFG("LOG_LEVEL", CFG_STR, log_level, "info", 0, 0, "debug, info, warn or error."),
	CFG("RAILWAY_REPLICA_ID", CFG_STR, replica, NULL, 0, 0,
	    "Replica name in /health, logs, metrics and the fleet (set by Railway; else the host "
	    "name); UTF-8 text of at most 200 bytes, no control or invisible characters, no space "
	    "first or last."),
	CFG("RAILWAY_REPLICA_REGION", CFG_STR, region, "", 0, 0,
	    "Region reported by /health and the fleet; UTF-8 text of at most 200 bytes, no control or "
	    "invisible characters, no space first or last."),
	CFG("OUTBOUND_CA_FILE", CFG_STR, outbound_ca_file, NULL, 0, 0,
	    "PEM file of extra trust anchors for outbound HTTPS (the Mozilla set is built in)."),
	CFG("OUTBOUND_RESOLVE", CFG_STR, outbound_resolve, NULL, 0, 0,
	    "host:port:address[,...] pins host names to addresses for outbound calls, as curl's "
	    "--resolve."),
	CFG("OUTBOUND_TIMEOUT_MS", CFG_INT, outbound_timeout_ms, "10000", 100, 600000,
	    "Whole-call timeout of every outbound HTTPS request."),
	CFG("OUTBOUND_THREADS", CFG_INT, outbound_threads, "4", 1, 256,
	    "Threads that wait on Cloudinary for photo uploads and deletions (never holding a database "
	    "connection or a worker)."),
	CFG("OUTBOUND_QUEUE_MAX", CFG_INT, outbound_queue_max, "64", 1, 100000,
	    "Photo calls queued or running; past it photo routes answer 503 with Retry-After."),
	CFG("BCRYPT_COST", CFG_INT, bcrypt_cost, "12", 4, 31,
	    "bcrypt cost of new password hashes. Below 12 only outside production (test fixtures)."),
	CFG("BCRYPT_THREADS", CFG_INT, bcrypt_threads, "0", 0, 256,
	    "Threads that hash passwords (0: cores)."),
	CFG("BCRYPT_QUEUE_MAX", CFG_INT, bcrypt_queue_max, "64", 1, 100000,
	    "Password hashes queued or running; past it login and register answer 503 with Retry-After."),
	CFG("BCRYPT_SHARE_MAX", CFG_INT, bcrypt_share_max, "0", 0, 100000,
	    "Hashes one client address, or one account, may have queued or running; past it its "
	    "requests answer 503 with Retry-After (0: half of BCRYPT_QUEUE_MAX, rounded up)."),
	CFG("ACCESS_TOKEN_EXPIRE_DAYS", CFG_INT, access_token_expire_days, "30", 1, 3650,
	    "Token lifetime (exp)."),
	CFG("ACTIVITY_TIMEOUT_MINUTES", CFG_INT, activity_timeout_minutes, "30", 1, 5256000,
	    "A session without activity for this long ends (tokens without remember_me)."),
	CFG("REMEMBER_ME_TIMEOUT_DAYS", CFG_INT, remember_me_timeout_days, "30", 1, 3650,
	    "The same for remember_me tokens."),
	CFG("JWT_LEEWAY_SECONDS", CFG_INT, jwt_leeway_seconds, "10", 0, 3600,
	    "Clock skew allowed when checking exp and iat."),
	CFG("SESSION_TOUCH_SECONDS", CFG_INT, session_touch_seconds, "60", 1, 86400,
	    "users.last_seen_at, which keeps sessions alive across replicas, is written at most this often."),
	CFG("LOCKOUT_ATTEMPTS", CFG_INT, lockout_attempts, "5", 1, 1000,
	    "Wrong passwords in a row that lock an account."),
	CFG("LOCKOUT_SECONDS", CFG_INT, lockout_seconds, "900", 1, 86400 * 30, "How long a lock lasts."),
	CFG("CODE_TTL_SECONDS", CFG_INT, code_ttl_seconds, "600", 1, 86400,
	    "Lifetime of verification and recovery codes."),
	CFG("CODE_MAX_ATTEMPTS", CFG_INT, code_max_attempts, "5", 1, 1000, "Wrong tries that burn a code."),
	CFG("RATE_LIMIT_REGISTER", CFG_STR, rate_register, "10/3600", 0, 0,
	    "Registrations per client address, as COUNT/SECONDS."),
	CFG("RATE_LIMIT_LOGIN", CFG_STR, rate_login, "60/60", 0, 0, "Login attempts per client address."),
	CFG("RATE_LIMIT_CODE_EMAIL", CFG_STR, rate_code_email, "5/3600", 0, 0,
	    "Verification and recovery codes sent per e-mail address."),
	CFG("RATE_LIMIT_CODE_IP", CFG_STR, rate_code_ip, "20/3600", 0, 0, "Codes sent per client address."),
	CFG("RATE_LIMIT_LOG_API_CALL", CFG_STR, rate_log_api_call, "120/60", 0, 0,
	    "POST /api/log-api-call per client address."),
	CFG("RATE_LIMIT_CHANGE_PASSWORD", CFG_STR, rate_change_password, "10/3600", 0, 0,
	    "POST /auth/change-password per account."),
	CFG("SENDGRID_API_KEY", CFG_STR, sendgrid_api_key, NULL, 0, 0,
	    "SendGrid key for codes and lockout notices. Unset: codes are logged in development, the "
	    "send routes answer 503 in production."),
	CFG("SENDGRID_API_BASE", CFG_STR, sendgrid_api_base, "https://api.sendgrid.com", 0, 0,
	    "SendGrid's API address (tests point it at a local stand-in)."),
	CFG("FROM_EMAIL", CFG_STR, from_email, "noreply@droplinkconnect.com", 0, 0,
	    "Sender of droplin's e-mail."),
	CFG("CLOUDINARY_URL", CFG_STR, cloudinary_url, NULL, 0, 0,
	    "cloudinary://key:secret@cloud for profile photos. Unset and no CLOUDINARY_* trio: photo uploads "
	    "answer 503."),
	CFG("CLOUDINARY_CLOUD_NAME", CFG_STR, cloudinary_cloud_name, NULL, 0, 0,
	    "The original's variables, used when CLOUDINARY_URL is unset."),
	CFG("CLOUDINARY_API_KEY", CFG_STR, cloudinary_api_key, NULL, 0, 0, "See CLOUDINARY_CLOUD_NAME."),
	CFG("CLOUDINARY_API_SECRET", CFG_STR, cloudinary_api_secret, NULL, 0, 0,
	    "See CLOUDINARY_CLOUD_NAME."),
	CFG("CLOUDINARY_API_BASE", CFG_STR, cloudinary_api_base, "https://api.cloudinary.com", 0, 0,
	    "Cloudinary's API address (tests point it at a local stand-in)."),
	CFG("RETENTION_INTERVAL_SECONDS", CFG_INT, retention_interval_seconds, "3600", 1, 86400 * 7,
	    "How often one replica prunes expired codes, old rate-limit windows and old log rows."),
	CFG("AUDIT_RETENTION_DAYS", CFG_INT, audit_retention_days, "365", 1, 36500,
	    "Audit rows older than this go."),
	CFG("API_CALL_LOG_RETENTION_DAYS", CFG_INT, api_call_log_retention_days, "30", 1, 36500,
	    "api_call_logs rows older than this go."),
	/* clang-format off */
	CFG("HEARTBEAT_SECONDS", CFG_SECONDS, heartbeat_seconds, "5", 0, HEARTBEAT_MAX_SECONDS,
	    "How often this replica writes a heartbeat row (its state and request counters) to "
	    "PostgreSQL, for GET /admin/replicas and the dashboard; a replica silent for "
	    STR(HEARTBEAT_GONE_AFTER) " intervals is gone from the fleet. 0: no heartbeat; else at "
	    "least 1."),
	/* clang-format on */
	CFG("METRICS_TOKEN", CFG_STR, metrics_token, NULL, 0, 0,
	    "When set, GET /metrics needs `Authorization: Bearer <token>`. Unset in production, "
	    "/metrics answers 401 to everyone unless METRICS_PUBLIC=1."),
	CFG("METRICS_PUBLIC", CFG_INT, metrics_public, "0", 0, 1,
	    "1 serves /metrics without a token in production, for a port only a private network "
	    "reaches (in development it is always open when METRICS_TOKEN is unset)."),
	CFG("ALLOW_CLEAR_ALL_DATA", CFG_INT, allow_clear_all_data, "0", 0, 1,
	    "1 enables DELETE /admin/clear-all-data in production (it is always on in development)."),
	CFG("CLOUDINARY_SIGNATURE_ALGORITHM", CFG_STR, cloudinary_signature_algorithm, "sha1", 0, 0,
	    "sha1 or sha256, as the Cloudinary account is set to verify signatures."),
};

struct rate_rule {
	const char *name; /* key prefix */
	long long count, window;
};

static struct rate_rule RATE_REGISTER = {.name = "register"}, RATE_LOGIN = {.name = "login"},
			RATE_CODE_EMAIL = {.name = "code-email"}, RATE_CODE_IP = {.name = "code-ip"},
			RATE_LOG_API_CALL = {.name = "log-api-call"},
			RATE_CHANGE_PASSWORD = {.name = "change-password"};

static int rate_parse(const char *var, const char *s, struct rate_rule *r, char *err, size_t errlen)
{
	char tail;
	if (!s || sscanf(s, "%lld/%lld%c", &r->count, &r->window, &tail) != 2 || r->count < 1 ||
	    r->window < 1) {
		snprintf(err, errlen, "%s must look like COUNT/SECONDS, e.g. 10/3600", var);
		return -1;
	}
	return 0;
}

static struct config cfg; /* written once in main, read-only afterwards */

static void cfg_help(FILE *f)
{
	fprintf(f,
		"droplin %s: the DropLink backend.\n\n"
		"Usage: droplin [--help | --version | --healthcheck [PATH] | --check-outbound URL]\n\n"
		"  --version            droplin's version and that of every library linked in\n"
		"  --healthcheck [PATH] GET http://127.0.0.1:$PORT/livez (PATH: /livez, /health or\n"
		"                       /ready); exit 0 on 200, else 1\n"
		"  --check-outbound URL one GET through the outbound HTTPS path; exit 0 on 2xx\n\n"
		"Configuration comes from the environment:\n\n",
		DROPLIN_VERSION);
	for (size_t i = 0; i < sizeof CFG_VARS / sizeof CFG_VARS[0]; i++) {
		const struct cfg_var *v = &CFG_VARS[i];
		fprintf(f, "  %s (default: %s)\n      %s\n", v->name,
			v->def ? (*v->def ? v->def : "empty") : "unset", v->help);
	}
}

/*
 * The default build's libpq has no TLS: `sslmode=require` (or verify-*) would fail at every
 * connect, so it is refused at start-up with a clear line instead of failing (or, with `prefer`,
 * silently connecting in plain text: that one is allowed and documented). libpq takes sslmode
 * from PGSSLMODE when the URL sets none, so that is checked the same way. The TLS variant's
 * libpq (`make DB_TLS=openssl`) names its library, and there every sslmode is libpq's to check.
 */
static int db_url_wants_tls(const char *url, char *err, size_t errlen)
{
	const char *mode = NULL, *from = "PGSSLMODE";
	char *perr = NULL;
	PQconninfoOption *opts = NULL;
	if (url && *url && !(opts = PQconninfoParse(url, &perr))) {
		snprintf(err, errlen, "DATABASE_URL is not a valid connection string: %s", perr ? perr : "?");
		PQfreemem(perr);
		return -1;
	}
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "sslmode") && o->val && *o->val)
			mode = o->val, from = "DATABASE_URL";
	if (!mode)
		mode = getenv("PGSSLMODE");
	int rc = 0;
	if (mode && (!strcmp(mode, "require") || !strncmp(mode, "verify-", 7)) &&
	    !PQsslAttribute(NULL, "library")) {
		snprintf(err, errlen,
			 "%s asks for sslmode=%s, but this build of droplin has no TLS for PostgreSQL; "
			 "use a private network or the TLS build variant",
			 from, mode);
		rc = -1;
	}
	PQconninfoFree(opts);
	return rc;
}

/* A replica's name or region goes into every log line, heartbeat row and page: PostgreSQL
   refuses a row that is not UTF-8 (the replica would never be listed), and a control character
   (C0, DEL or C1), an invisible one that reorders or hides text (bidi controls and marks, a zero
   width space, blank fillers, line separators, tags, format characters), a space other than
   U+0020, a space first, last or twice, or a private use or noncharacter code point is no name:
   it could make a terminal's table line say something else, or two names look alike. The
   joiners (U+200C, U+200D) and the variation selectors stay: scripts and emoji need them. */
static bool replica_name_ok(const char *s)
{
	size_t n = strlen(s), len;
	if (n > 200 || !utf8_valid(s, n) || (n && (s[0] == ' ' || s[n - 1] == ' ')) || strstr(s, "  "))
		return false;
	for (unsigned cp; *s; s += len) {
		len = utf8_decode((const unsigned char *)s, n, &cp);
		n -= len;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad || cp == 0x34f ||
		    (cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd || cp == 0x70f ||
		    cp == 0x890 || cp == 0x891 || cp == 0x8e2 || cp == 0x115f || cp == 0x1160 ||
		    cp == 0x1680 || cp == 0x17b4 || cp == 0x17b5 || (cp >= 0x180b && cp <= 0x180f) ||
		    (cp >= 0x2000 && cp <= 0x200b) || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) || cp == 0x2800 ||
		    cp == 0x3000 || cp == 0x3164 || cp == 0xfeff || cp == 0xffa0 ||
		    (cp >= 0xfff0 && cp <= 0xfffb) || cp == 0x110bd || cp == 0x110cd ||
		    (cp >= 0x13430 && cp <= 0x1343f) || (cp >= 0x1bca0 && cp <= 0x1bca3) ||
		    (cp >= 0x1d173 && cp <= 0x1d17a) || (cp >= 0xe0000 && cp <= 0xe007f) ||
		    (cp >= 0xe0080 && cp <= 0xe00ff) || (cp >= 0xe01f0 && cp <= 0xe0fff) ||
		    (cp >= 0xe000 && cp <= 0xf8ff) || cp >= 0xf0000 || (cp >= 0xfdd0 && cp <= 0xfdef) ||
		    (cp & 0xfffe) == 0xfffe) /* private use and noncharacters: no one's glyph */
			return false;
	}
	return true;
}

/* Reads and checks every variable; on a bad value writes one line into err and fails. */
static int cfg_load(struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof CFG_VARS / sizeof CFG_VARS[0]; i++) {
		const struct cfg_var *v = &CFG_VARS[i];
		const char *s = getenv(v->name);
		if (!s || (!*s && v->type != CFG_STR))
			s = v->def;
		void *field = (char *)c + v->offset;
		if (v->type == CFG_STR) {
			*(const char **)field = s;
			continue;
		}
		long long n = 0;
		double d = 0;
		char *end = NULL;
		bool ok = s && (v->type == CFG_INT
					? parse_int(s, v->min, v->max, &n)
					: ((d = strtod(s, &end)),
					   end != s && !*end && d >= (double)v->min && d <= (double)v->max));
		if (!ok) {
			snprintf(err, errlen, "%s must be a number from %lld to %lld", v->name, v->min,
				 v->max);
			return -1;
		}
		if (v->type == CFG_INT)
			*(long long *)field = n;
		else
			*(double *)field = d;
	}
	if (db_url_wants_tls(c->database_url, err, errlen))
		return -1;
	if (strcmp(c->env, "production") && strcmp(c->env, "development")) {
		snprintf(err, errlen, "DROPLIN_ENV must be production or development");
		return -1;
	}
	const char *names[][2] = {{"RAILWAY_REPLICA_ID", c->replica}, {"RAILWAY_REPLICA_REGION", c->region}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!replica_name_ok(names[i][1] ? names[i][1] : "")) {
			snprintf(err, errlen,
				 "%s must be UTF-8 text of at most 200 bytes without control or invisible"
				 " characters",
				 names[i][0]);
			return -1;
		}
	}
	if (c->heartbeat_seconds > 0 && c->heartbeat_seconds < 1) { /* a flood, or never listed */
		snprintf(err, errlen, "HEARTBEAT_SECONDS must be 0 or from 1 to " STR(HEARTBEAT_MAX_SECONDS));
		return -1;
	}
	c->dev = !strcmp(c->env, "development");
	if (!c->bcrypt_share_max)
		c->bcrypt_share_max = (c->bcrypt_queue_max + 1) / 2;
	if (!c->max_buffered_body_bytes_per_client) { /* a quarter, and room for a photo at least */
		long long photo = PHOTO_MAX_BYTES + PHOTO_MULTIPART_SLACK,
			  quarter = c->max_buffered_body_bytes / 4;
		c->max_buffered_body_bytes_per_client = quarter > photo ? quarter : photo;
	}
	if (!c->dev && c->bcrypt_cost < 12) {
		snprintf(err, errlen, "BCRYPT_COST below 12 is for test fixtures: not in production");
		return -1;
	}
	struct {
		const char *var, *value;
		struct rate_rule *rule;
	} rates[] = {{"RATE_LIMIT_REGISTER", c->rate_register, &RATE_REGISTER},
		     {"RATE_LIMIT_LOGIN", c->rate_login, &RATE_LOGIN},
		     {"RATE_LIMIT_CODE_EMAIL", c->rate_code_email, &RATE_CODE_EMAIL},
		     {"RATE_LIMIT_CODE_IP", c->rate_code_ip, &RATE_CODE_IP},
		     {"RATE_LIMIT_LOG_API_CALL", c->rate_log_api_call, &RATE_LOG_API_CALL},
		     {"RATE_LIMIT_CHANGE_PASSWORD", c->rate_change_password, &RATE_CHANGE_PASSWORD}};
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
		if (rate_parse(rates[i].var, rates[i].value, rates[i].rule, err, errlen))
			return -1;
	if (!c->database_url)
		c->database_url = "";
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	bool level_ok = false;
	for (int i = 0; i < 4; i++)
		if (!strcmp(c->log_level, levels[i]))
			log_min = (enum log_level)i, level_ok = true;
	if (!level_ok) {
		snprintf(err, errlen, "LOG_LEVEL must be debug, info, warn or error");
		return -1;
	}
	return 0;
}

/*
 * In production an empty DATABASE_URL is a forgotten variable (a platform's reference that did
 * not resolve, say): libpq would fall back to a local socket and the replica would only ever be
 * unready. Development allows it, for libpq's PG* variables alone.
 */
static int cfg_check_database(const struct config *c, char *err, size_t errlen)
{
	const char *s = c->database_url;
	while (isspace((unsigned char)*s))
		s++;
	if (!c->dev && !*s) {
		snprintf(err, errlen, "DATABASE_URL is empty: set it to the PostgreSQL connection string");
		return -1;
	}
	return 0;
}

/* Short, or a published value however it is padded or cased (" KEY\n" is still that key). */
static bool secret_is_weak(const char *s)
{
	if (strlen(s) < SECRET_MIN_BYTES)
		return true;
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	static const char *const published[] = {ORIGINAL_DEFAULT_JWT_SECRET, ORIGINAL_ADMIN_SECRET};
	for (size_t i = 0; i < sizeof published / sizeof published[0]; i++)
		if (n == strlen(published[i]) && !strncasecmp(s, published[i], n))
			return true;
	return false;
}

/*
 * In production a missing or weak secret stops start-up; in development it is replaced by a
 * random per-process value, with a warning. Every key that verifies tokens is held to the
 * signing key's rule: a published or short previous or next key would let anyone mint tokens
 * for any user. In development a weak one is ignored, as a weak signing key is replaced. An
 * empty previous or next key is unset (an HMAC with an empty key is no proof of anything).
 */
static int cfg_check_secrets(struct config *c, char *err, size_t errlen)
{
	static char generated[2][48];
	const char **secrets[2] = {&c->jwt_secret, &c->admin_secret};
	static const char *const names[2] = {"JWT_SECRET_KEY", "ADMIN_SECRET"};
	for (int i = 0; i < 2; i++) {
		const char *s = *secrets[i];
		bool weak = !s || !*s || secret_is_weak(s);
		if (!weak)
			continue;
		if (!c->dev) {
			snprintf(err, errlen, "%s is %s: set it to a random value of at least %d bytes",
				 names[i], !s || !*s ? "missing" : "too weak", SECRET_MIN_BYTES);
			return -1;
		}
		unsigned char raw[32];
		random_bytes(raw, sizeof raw);
		b64url_encode(generated[i], raw, sizeof raw);
		*secrets[i] = generated[i];
		log_msg(LOG_WARN, "%s is %s; using a random per-process value (development only)", names[i],
			!s || !*s ? "missing" : "weak");
	}
	const char **verifying[2] = {&c->previous_jwt_secret, &c->next_jwt_secret};
	static const char *const vnames[2] = {"PREVIOUS_JWT_SECRET_KEY", "NEXT_JWT_SECRET_KEY"};
	for (int i = 0; i < 2; i++) {
		const char *s = *verifying[i];
		if (s && !*s)
			*verifying[i] = NULL;
		if (!s || !*s || !secret_is_weak(s))
			continue;
		if (!c->dev) {
			snprintf(err, errlen,
				 "%s is too weak: a key that verifies tokens must be a random value of at "
				 "least "
				 "%d bytes and never a published one (holders of tokens signed with it log "
				 "in again)",
				 vnames[i], SECRET_MIN_BYTES);
			return -1;
		}
		*verifying[i] = NULL;
		log_msg(LOG_WARN, "%s is weak; ignored (development only)", vnames[i]);
	}
	digest_of(c->admin_secret, strlen(c->admin_secret), c->admin_digest);
	if (c->metrics_token)
		digest_of(c->metrics_token, strlen(c->metrics_token), c->metrics_digest);
	return 0;
}

/* ==== 6. HTTP request parsing ====================================================== */

/*
 * RFC 9112, strictly (DECISIONS S8). The parser reads a complete head in place and fills
 * slices that borrow from the caller's buffer; nothing is copied or allocated. It returns the
 * head's length, -2 when more bytes are needed, or -1 with *status set (400, 431 or 505).
 */
struct http_header {
	struct slice name, value;
};

enum http_body { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

struct http_req {
	struct slice method, target, path, query;
	int minor; /* HTTP/1.<minor> */
	int n_headers;
	struct http_header headers[HTTP_MAX_HEADERS_HARD];
	/* framing, from http_frame() */
	enum http_body body_kind;
	uint64_t content_length;
	bool keep_alive, expect_continue;
	struct slice body; /* the whole body once read; borrowed from the connection */
};

static bool http_is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr(extra, c));
}

/* A field-value byte: HTAB, SP, VCHAR or obs-text. NUL, CR, LF and other controls are not. */
static bool http_is_vbyte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* Expects CRLF at *i; -2 when the buffer ends first, -1 for anything else (bare CR or LF). */
static int http_crlf(const char *b, size_t len, size_t *i)
{
	if (*i >= len)
		return -2;
	if (b[*i] != '\r')
		return -1;
	if (*i + 1 >= len)
		return -2;
	if (b[*i + 1] != '\n')
		return -1;
	*i += 2;
	return 0;
}

static int http_parse_request_line(const char *b, size_t len, size_t *pi, struct http_req *r, int *status)
{
	size_t i = *pi, start = i;
	while (i < len && http_is_tchar((unsigned char)b[i]))
		i++;
	if (i >= len)
		return -2;
	if (i == start || b[i] != ' ')
		return -1;
	r->method = (struct slice){b + start, i - start};
	start = ++i;
	while (i < len && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f)
		i++;
	if (i >= len)
		return -2;
	if (i == start || b[i] != ' ')
		return -1;
	r->target = (struct slice){b + start, i - start};
	start = ++i;
	static const char proto[] = "HTTP/1.1";
	for (size_t k = 0; k < sizeof proto - 1; k++, i++) {
		if (i >= len)
			return -2;
		bool digit = k == 5 || k == 7;
		if (digit ? !isdigit((unsigned char)b[i]) : b[i] != proto[k])
			return -1;
	}
	if (b[start + 5] != '1' || (b[start + 7] != '0' && b[start + 7] != '1')) {
		*status = 505;
		return -1;
	}
	r->minor = b[start + 7] - '0';
	int rc = http_crlf(b, len, &i);
	if (rc)
		return rc;
	*pi = i;
	return 0;
}

/*
 * Parses the head in b[0..len): its length, -2 for more bytes, or -1 with *status. `*resume`
 * (0 to begin) is where the parse goes on: on -2 it is left at the first line not yet complete,
 * the lines before it (and what they put in r) kept, so a head that arrives in many reads is
 * parsed once in all, not once per read.
 */
static int http_parse_head(const char *b, size_t len, struct http_req *r, int max_headers, int *status,
			   size_t *resume)
{
	size_t i = *resume;
	int rc;
	*status = 400;
	if (!i) {
		r->n_headers = 0;
		/* RFC 9112 2.2: ignore a few empty lines before the request line */
		for (int k = 0; k < 4 && i < len && b[i] == '\r'; k++)
			if ((rc = http_crlf(b, len, &i)))
				return rc;
		if ((rc = http_parse_request_line(b, len, &i, r, status)))
			return rc;
	}
	for (;;) {
		*resume = i;
		if (i >= len)
			return -2;
		if (b[i] == '\r') {
			rc = http_crlf(b, len, &i);
			return rc ? rc : (int)i;
		}
		if (b[i] == ' ' || b[i] == '\t')
			return -1; /* obs-fold, or whitespace before the first field */
		size_t start = i;
		while (i < len && http_is_tchar((unsigned char)b[i]))
			i++;
		if (i >= len)
			return -2;
		if (i == start || b[i] != ':')
			return -1; /* includes whitespace between name and colon */
		struct slice name = {b + start, i - start};
		i++;
		while (i < len && (b[i] == ' ' || b[i] == '\t'))
			i++;
		start = i;
		while (i < len && http_is_vbyte((unsigned char)b[i]))
			i++;
		if (i >= len)
			return -2;
		struct slice value = sl_trim((struct slice){b + start, i - start});
		rc = http_crlf(b, len, &i);
		if (rc)
			return rc;
		if (r->n_headers >= max_headers) {
			*status = 431;
			return -1;
		}
		r->headers[r->n_headers++] = (struct http_header){name, value};
	}
}

/* The value of the only header with this name; *count says how many there were. */
static struct slice http_header_get(const struct http_req *r, const char *name, int *count)
{
	struct slice v = {NULL, 0};
	int n = 0;
	for (int i = 0; i < r->n_headers; i++)
		if (sl_ieq(r->headers[i].name, name)) {
			if (!n++)
				v = r->headers[i].value;
		}
	if (count)
		*count = n;
	return v;
}

static struct slice http_header(const struct http_req *r, const char *name)
{
	return http_header_get(r, name, NULL);
}

/* Splits the target into path and query; accepts origin-form and absolute-form. */
static int http_split_target(struct http_req *r)
{
	struct slice t = r->target;
	if (t.n >= 7 && (!strncasecmp(t.p, "http://", 7) || (t.n >= 8 && !strncasecmp(t.p, "https://", 8)))) {
		size_t skip = t.p[4] == ':' ? 7 : 8;
		const char *slash = memchr(t.p + skip, '/', t.n - skip);
		if (!slash)
			t = S("/");
		else
			t = (struct slice){slash, t.n - (size_t)(slash - t.p)};
	} else if (sl_eq(t, "*")) {
		if (!sl_eq(r->method, "OPTIONS"))
			return -1;
	} else if (!t.n || t.p[0] != '/') {
		return -1;
	}
	if (memchr(t.p, '#', t.n))
		return -1;
	const char *q = memchr(t.p, '?', t.n);
	r->path = (struct slice){t.p, q ? (size_t)(q - t.p) : t.n};
	r->query = q ? (struct slice){q + 1, t.n - r->path.n - 1} : (struct slice){"", 0};
	return 0;
}

/* Content-Length: 1*DIGIT, nothing else, at most 18 digits so it cannot overflow. */
static int http_parse_length(struct slice v, uint64_t *out)
{
	if (!v.n || v.n > 18)
		return -1;
	uint64_t n = 0;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

/*
 * Decides how the message is framed and whether the connection persists. Every ambiguity a
 * proxy might resolve differently is refused with 400 (request smuggling, RFC 9112 6.3).
 */
static int http_frame(struct http_req *r, int *status)
{
	*status = 400;
	int n_host, n_cl, n_te;
	http_header_get(r, "Host", &n_host);
	if (n_host > 1 || (r->minor == 1 && n_host == 0))
		return -1;
	if (http_split_target(r))
		return -1;
	struct slice cl = http_header_get(r, "Content-Length", &n_cl);
	http_header_get(r, "Transfer-Encoding", &n_te);
	r->body_kind = BODY_NONE;
	r->content_length = 0;
	if (n_te) {
		if (n_cl || r->minor == 0)
			return -1;
		int codings = 0;
		for (int i = 0; i < r->n_headers; i++) {
			if (!sl_ieq(r->headers[i].name, "Transfer-Encoding"))
				continue;
			struct slice list = r->headers[i].value, tok;
			while (sl_next_token(&list, &tok))
				if (!sl_ieq(tok, "chunked") || codings++)
					return -1;
		}
		if (codings != 1)
			return -1;
		r->body_kind = BODY_CHUNKED;
	} else if (n_cl) {
		if (n_cl > 1 || http_parse_length(cl, &r->content_length))
			return -1;
		if (r->content_length)
			r->body_kind = BODY_LENGTH;
	}
	/* every Connection field counts (a list may be split over several); close wins */
	bool close = false, keep = false;
	for (int i = 0; i < r->n_headers; i++) {
		struct slice list = r->headers[i].value, tok;
		while (sl_ieq(r->headers[i].name, "Connection") && sl_next_token(&list, &tok)) {
			close |= sl_ieq(tok, "close");
			keep |= sl_ieq(tok, "keep-alive");
		}
	}
	r->keep_alive = !close && (r->minor == 1 || keep);
	struct slice expect = http_header(r, "Expect");
	r->expect_continue = false;
	if (expect.n) {
		if (!sl_ieq(expect, "100-continue") || r->minor == 0) {
			*status = 417;
			return -1;
		}
		r->expect_continue = r->body_kind != BODY_NONE;
	}
	return 0;
}

/*
 * Incremental chunked decoding (RFC 9112 7.1). Feeds on whatever bytes have arrived and
 * appends chunk data to `out`; returns the bytes consumed (a partial line is left for the
 * next call), or -1 with *status 400 (malformed) or 413 (body larger than out->max).
 */
enum chunk_state { CHUNK_SIZE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER, CHUNK_DONE };
enum {
	CHUNK_LINE_MAX = 4096,       /* one size line (with its extensions) or trailer field */
	CHUNK_FRAMING_MAX = 64 << 10 /* size lines, extensions and trailers beyond the data's size */
};

struct chunked {
	enum chunk_state state;
	uint64_t remaining;
	uint64_t framing, data; /* bytes that were not chunk data, and those that were */
};

static ssize_t http_chunk_size_line(struct chunked *c, const char *in, size_t n, int *status)
{
	const char *lf = memchr(in, '\n', n < CHUNK_LINE_MAX ? n : CHUNK_LINE_MAX);
	if (!lf)
		return n >= CHUNK_LINE_MAX ? -1 : -2;
	size_t line = (size_t)(lf - in);
	if (!line || in[line - 1] != '\r')
		return -1;
	size_t i = 0;
	uint64_t size = 0;
	for (; i < line - 1 && isxdigit((unsigned char)in[i]); i++) {
		if (i >= 15)
			return -1;
		int d = isdigit((unsigned char)in[i]) ? in[i] - '0'
						      : (tolower((unsigned char)in[i]) - 'a' + 10);
		size = size * 16 + (uint64_t)d;
	}
	if (!i)
		return -1;
	/* chunk extensions: BWS `;name[=value]`, ignored, but no controls or bare CR */
	while (i < line - 1 && (in[i] == ' ' || in[i] == '\t'))
		i++;
	if (i < line - 1 && in[i] != ';')
		return -1;
	for (; i < line - 1; i++)
		if (!http_is_vbyte((unsigned char)in[i]))
			return -1;
	c->remaining = size;
	c->state = size ? CHUNK_DATA : CHUNK_TRAILER;
	(void)status;
	return (ssize_t)line + 1;
}

static ssize_t http_chunked_feed(struct chunked *c, const char *in, size_t n, struct buf *out, int *status)
{
	size_t used = 0;
	*status = 400;
	while (used < n && c->state != CHUNK_DONE) {
		const char *p = in + used;
		size_t avail = n - used;
		enum chunk_state was = c->state;
		ssize_t k;
		switch (c->state) {
		case CHUNK_SIZE: k = http_chunk_size_line(c, p, avail, status); break;
		case CHUNK_DATA:
			k = (ssize_t)(avail < c->remaining ? avail : c->remaining);
			if (out->len + (size_t)k > out->max) {
				*status = 413;
				return -1;
			}
			buf_add(out, p, (size_t)k);
			if (out->over)
				return -1;
			c->remaining -= (uint64_t)k;
			if (!c->remaining)
				c->state = CHUNK_DATA_END;
			break;
		case CHUNK_DATA_END:
			k = avail < 2 ? -2 : (p[0] == '\r' && p[1] == '\n') ? 2 : -1;
			if (k == 2)
				c->state = CHUNK_SIZE;
			break;
		case CHUNK_TRAILER: {
			/* trailer fields are read and dropped; an empty line ends the message */
			const char *lf = memchr(p, '\n', avail < CHUNK_LINE_MAX ? avail : CHUNK_LINE_MAX);
			if (!lf) {
				k = avail >= CHUNK_LINE_MAX ? -1 : -2;
				break;
			}
			size_t line = (size_t)(lf - p);
			if (!line || p[line - 1] != '\r')
				return -1;
			for (size_t j = 0; j + 1 < line; j++)
				if (!http_is_vbyte((unsigned char)p[j]) ||
				    (j == 0 && (p[0] == ' ' || p[0] == '\t')))
					return -1;
			if (line == 1)
				c->state = CHUNK_DONE;
			k = (ssize_t)line + 1;
			break;
		}
		default: return -1;
		}
		if (k == -2)
			break;
		if (k < 0)
			return -1;
		if (was == CHUNK_DATA)
			c->data += (uint64_t)k;
		else if ((c->framing += (uint64_t)k) > CHUNK_FRAMING_MAX + c->data) {
			*status = 413; /* endless extensions or trailers */
			return -1;
		}
		used += (size_t)k;
	}
	return (ssize_t)used;
}

/*
 * Streaming multipart/form-data (RFC 7578) for the photo upload. Bytes are fed as they
 * arrive, in pieces of any size; the delimiter may be split across pieces. The first part
 * named `file` is appended to `out` (capped at out->max: 413), every other part is skipped.
 * Returns 0, or -1 with *status 400 (malformed) or 413 (the file is too large).
 */
enum mp_state { MP_DELIM, MP_AFTER_DELIM, MP_HEADERS, MP_BODY, MP_DONE };
enum { MP_BOUNDARY_MAX = 70, MP_LINE_MAX = 1024 };

struct multipart {
	enum mp_state state;
	char delim[MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen, match;              /* delimiter bytes matched so far */
	char line[MP_LINE_MAX];
	size_t line_len;
	int after; /* bytes of "--" or "\r\n" seen after a delimiter */
	char after_buf[2];
	bool part_is_file, file_seen, file_done;
	char content_type[64];
};

/*
 * The boundary parameter of a multipart/form-data Content-Type: 0, -1 when the type is not
 * multipart/form-data, -2 when it is but the boundary is missing or unusable.
 */
static int mp_boundary(struct slice ctype, char out[MP_BOUNDARY_MAX + 1])
{
	struct slice t = sl_trim(ctype);
	static const char mt[] = "multipart/form-data";
	if (t.n < sizeof mt - 1 || strncasecmp(t.p, mt, sizeof mt - 1))
		return -1;
	const char *p = t.p + sizeof mt - 1, *end = t.p + t.n;
	if (p < end && *p != ';' && *p != ' ' && *p != '\t')
		return -1; /* multipart/form-datax */
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (!eq)
			break;
		bool is_boundary = eq - p == 8 && !strncasecmp(p, "boundary", 8);
		p = eq + 1;
		const char *v = p;
		size_t n;
		if (p < end && *p == '"') { /* quoted-string (no escapes in boundaries) */
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			if (!q)
				return -2;
			v = p + 1, n = (size_t)(q - v), p = q + 1;
		} else {
			while (p < end && *p != ';')
				p++;
			n = (size_t)(p - v);
			while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
		}
		if (is_boundary) {
			if (!n || n > MP_BOUNDARY_MAX || memchr(v, '\r', n) || memchr(v, '\n', n))
				return -2;
			memcpy(out, v, n);
			out[n] = 0;
			return 0;
		}
	}
	return -2;
}

static void mp_init(struct multipart *m, const char *boundary)
{
	*m = (struct multipart){.state = MP_DELIM};
	m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", boundary);
	m->match = 2; /* the body opens with "--boundary": pretend its CRLF came before */
}

/* The value of parameter `key` (e.g. name) in a header value; quoted or token. */
static struct slice mp_param(struct slice v, const char *key)
{
	size_t kn = strlen(key);
	for (size_t i = 0; i + kn + 1 <= v.n; i++) {
		bool start = i == 0 || v.p[i - 1] == ' ' || v.p[i - 1] == ';' || v.p[i - 1] == '\t';
		if (!start || strncasecmp(v.p + i, key, kn) || v.p[i + kn] != '=')
			continue;
		const char *p = v.p + i + kn + 1, *end = v.p + v.n;
		if (p < end && *p == '"') {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			return q ? (struct slice){p + 1, (size_t)(q - p - 1)} : (struct slice){NULL, 0};
		}
		const char *e = p;
		while (e < end && *e != ';' && *e != ' ' && *e != '\t')
			e++;
		return (struct slice){p, (size_t)(e - p)};
	}
	return (struct slice){NULL, 0};
}

/* One header line of a part: the name of Content-Disposition, and the Content-Type. */
static int mp_header_line(struct multipart *m)
{
	struct slice l = {m->line, m->line_len};
	const char *colon = memchr(l.p, ':', l.n);
	if (!colon || colon == l.p)
		return -1; /* not a header field */
	static const char cd[] = "content-disposition:", ct[] = "content-type:";
	if (l.n > sizeof cd - 1 && !strncasecmp(l.p, cd, sizeof cd - 1)) {
		struct slice name =
			mp_param((struct slice){l.p + sizeof cd - 1, l.n - (sizeof cd - 1)}, "name");
		m->part_is_file = !m->file_seen && sl_eq(name, "file");
	} else if (l.n > sizeof ct - 1 && !strncasecmp(l.p, ct, sizeof ct - 1)) {
		struct slice v = sl_trim((struct slice){l.p + sizeof ct - 1, l.n - (sizeof ct - 1)});
		snprintf(m->content_type, sizeof m->content_type, "%.*s", (int)v.n, v.p);
	}
	return 0;
}

static int mp_data(struct multipart *m, const char *p, size_t n, struct buf *out, int *status)
{
	if (!m->part_is_file || !n)
		return 0;
	if (out->len + n > out->max) {
		*status = 413;
		return -1;
	}
	buf_add(out, p, n);
	return out->over ? (*status = 503, -1) : 0;
}

static int mp_feed(struct multipart *m, const char *in, size_t n, struct buf *out, int *status)
{
	*status = 400;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		switch (m->state) {
		case MP_DELIM:
		case MP_BODY:
			if (ch == m->delim[m->match]) {
				if (++m->match == m->dlen) {
					m->state = MP_AFTER_DELIM;
					m->after = 0;
					m->match = 0;
					if (m->part_is_file)
						m->file_done = true;
					m->part_is_file = false;
				}
				continue;
			}
			/* not the delimiter: what looked like its start was data (a CR only starts it) */
			if (m->state == MP_BODY && mp_data(m, m->delim, m->match, out, status))
				return -1;
			m->match = ch == m->delim[0];
			if (!m->match && m->state == MP_BODY && mp_data(m, &ch, 1, out, status))
				return -1;
			continue;
		case MP_AFTER_DELIM:
			m->after_buf[m->after++] = ch;
			if (m->after < 2)
				continue;
			if (!memcmp(m->after_buf, "--", 2)) {
				m->state = MP_DONE;
			} else if (!memcmp(m->after_buf, "\r\n", 2)) {
				m->state = MP_HEADERS;
				m->line_len = 0;
			} else {
				return -1;
			}
			continue;
		case MP_HEADERS:
			if (ch != '\n') {
				if (m->line_len >= MP_LINE_MAX)
					return -1;
				m->line[m->line_len++] = ch;
				continue;
			}
			if (!m->line_len || m->line[m->line_len - 1] != '\r')
				return -1;
			m->line_len--;
			if (!m->line_len) { /* the blank line: the part's body follows */
				m->state = MP_BODY;
				if (m->part_is_file)
					m->file_seen = true;
				continue;
			}
			if (mp_header_line(m))
				return -1;
			m->line_len = 0;
			continue;
		case MP_DONE: return 0; /* the epilogue is ignored */
		}
	}
	return 0;
}

/* ==== 7. HTTP responses, CORS, request context, bodies and validation ============== */

struct ctx;
struct side_pool;
struct audit_row;

enum route_flags {
	R_INLINE = 1, /* cheap and database-free: answered on the loop thread */
	R_PHOTO = 2,  /* a multipart photo upload: 10 MiB, streamed through the parser */
	R_READ = 4,   /* one statement on the caller's id, then `render`: see loop_read_start() */
	R_WRITE = 8,  /* a transaction the loop can run too: `write_steps`, see loop_write_begin() */
	R_AUTH = 16,  /* needs a bearer token: checked from the head, before any body byte is read */
};

struct db_step;

struct route {
	const char *method, *path; /* path segments "{name}" match one non-empty segment */
	void (*handler)(struct ctx *);
	unsigned flags;
	int read_q;                                  /* R_READ: the statement (enum pg_stmt) */
	void (*render)(struct ctx *, PGresult *res); /* R_READ: its rows into the response */
	/* R_WRITE: after the token check, the steps before COMMIT (count, or -1: answered) */
	int (*write_steps)(struct ctx *, struct db_step *s);
	void (*write_done)(struct ctx *, struct db_step *s); /* R_WRITE: committed: the response */
};

struct pg;

struct verr {
	const char *field, *msg;
};

/*
 * Everything one request's handler sees and produces; lives in the connection's rblock.
 * A handler may run in stages: it sets `next` (and usually asks for bcrypt work), returns,
 * and `next` runs later on a worker. Handler state that spans stages lives in `state`.
 */
struct ctx {
	const struct http_req *req;
	const struct route *route;
	struct slice params[4]; /* {name} segments of the route template, in order */
	struct arena arena;
	void (*next)(struct ctx *);
	void *state;
	struct pg *pg;         /* borrowed for the current stage only */
	PGresult *loop_result; /* a loop read's rows, too many to render on the loop (h_user_read) */
	struct json json;
	struct verr verrs[VERR_MAX];
	int n_verrs;
	struct {
		long long id;
		char name[64];
		bool remember_me;
	} user; /* set by auth_require() */
	struct {
		long long uid;
		char id[24]; /* uid as text, the session query's parameter */
		double iat, last;
		bool has_iat, has_activity, remember;
		char sid[SID_TEXT]; /* its session; "" for a token without one (the original's) */
	} token;                    /* what auth_token() read from the token */
	double token_iat;           /* iat of a token this request issues; 0: now */
	void (*side)(struct ctx *); /* a stage for a side pool (bcrypt, outbound), then `next` */
	struct side_pool *side_pool;
	struct {
		const char *password;
		char setting[BCRYPT_SETTING_MAX];
		char result[BCRYPT_SETTING_MAX];
		uint32_t shares[2]; /* its client address's and its account's share slots */
	} bcrypt;
	int status;
	const char *ctype;
	struct buf body;
	struct buf headers; /* extra "Name: value\r\n" lines */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char client_ip[INET6_ADDRSTRLEN];
	char client_key[CLIENT_KEY_MAX]; /* what per-address limits count: the address, an IPv6 /64 */
	struct slice origin;             /* the Origin header when it is allowed, else empty */
	const struct multipart *upload;  /* the parsed photo upload, when there was one */
	int64_t t_start;                 /* monotonic microseconds */
	int64_t t_queued;                /* monotonic milliseconds, when a worker job was queued */
	uint64_t pg_ticket;              /* a loop read's place in line for a connection (P.waiters) */
	struct audit_row *audit;         /* R_WRITE: the audit row among the steps (audit_steps), */
	int audit_at;                    /* at this step (its SAVEPOINT) */
};

static const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Entity";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* The original's security headers (ORIGINAL_API 8), on every response; a page meant to be framed
   by droplin's own (the fleet frame) says X-Frame-Options: SAMEORIGIN instead of the first. */
#define HTTP_FRAME_DENY "X-Frame-Options: DENY\r\n"
static const char HTTP_SECURITY_HEADERS[] =
	HTTP_FRAME_DENY "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
			"X-Content-Type-Options: nosniff\r\n"
			"X-XSS-Protection: 1; mode=block\r\n"
			"Referrer-Policy: strict-origin-when-cross-origin\r\n";

static void resp_header(struct ctx *c, const char *name, const char *value)
{
	buf_adds(&c->headers, name);
	buf_adds(&c->headers, ": ");
	buf_adds(&c->headers, value);
	buf_adds(&c->headers, "\r\n");
}

/* Starts a JSON object body; handlers add fields with json_kv_* and close with resp_end. */
static struct buf *resp_json(struct ctx *c, int status)
{
	if (c->body.borrowed) /* an embedded document's: never written into */
		c->body = (struct buf){0};
	c->status = status;
	c->ctype = "application/json";
	c->body.len = 0;
	buf_addc(&c->body, '{');
	return &c->body;
}

static void resp_end(struct ctx *c) { buf_addc(&c->body, '}'); }

/* The original's error shape: {"detail": "..."} */
static void resp_detail(struct ctx *c, int status, const char *detail)
{
	json_kv_str(resp_json(c, status), "detail", detail);
	resp_end(c);
}

static void resp_text(struct ctx *c, int status, const char *text)
{
	c->status = status;
	c->ctype = "text/plain; charset=utf-8";
	c->body.len = 0;
	buf_adds(&c->body, text);
}

/* DECISIONS F: a 500 never carries internal text; the cause goes to the log. */
static void resp_internal_error(struct ctx *c, const char *cause)
{
	log_msg(LOG_ERROR, "internal error: %s (request %s)", cause, c->request_id);
	struct buf *b = resp_json(c, 500);
	json_kv_str(b, "detail", "Internal server error");
	json_kv_str(b, "request_id", c->request_id);
	resp_end(c);
}

/* --- CORS (DECISIONS S9, ORIGINAL_API 8) --- */

static const char CORS_ALLOW_METHODS[] = "GET, POST, PUT, DELETE, OPTIONS";
static const char CORS_ALLOW_HEADERS[] =
	"Accept, Accept-Language, Authorization, Content-Language, Content-Type, Origin, "
	"X-Requested-With";

/* "http://<prefix><digits>[.<digits>...]:<digits>" shapes of the original's dev regex. */
static bool cors_dev_pattern(struct slice o)
{
	static const char local[] = "http://localhost:", lan[] = "http://192.168.";
	size_t i;
	if (o.n > sizeof local - 1 && !strncmp(o.p, local, sizeof local - 1)) {
		for (i = sizeof local - 1; i < o.n; i++)
			if (!isdigit((unsigned char)o.p[i]))
				return false;
		return true;
	}
	if (o.n <= sizeof lan - 1 || strncmp(o.p, lan, sizeof lan - 1))
		return false;
	/* \d+\.\d+:\d+ */
	int part = 0, digits = 0;
	for (i = sizeof lan - 1; i < o.n; i++) {
		char ch = o.p[i];
		if (isdigit((unsigned char)ch)) {
			digits++;
		} else if (digits && ((part == 0 && ch == '.') || (part == 1 && ch == ':'))) {
			part++, digits = 0;
		} else {
			return false;
		}
	}
	return part == 2 && digits;
}

static bool cors_allowed(struct slice origin)
{
	if (!origin.n || sl_eq(origin, "null"))
		return false;
	if (cfg.cors_origins && *cfg.cors_origins) {
		struct slice list = {cfg.cors_origins, strlen(cfg.cors_origins)}, tok;
		while (sl_next_token(&list, &tok))
			if (tok.n == origin.n && !memcmp(tok.p, origin.p, tok.n))
				return true;
		return false;
	}
	if (!cfg.dev)
		return false;
	return sl_eq(origin, "http://localhost:8081") || sl_eq(origin, "http://localhost:19006") ||
	       sl_eq(origin, "http://192.168.1.92:8081") || cors_dev_pattern(origin);
}

static bool cors_header_allowed(struct slice h)
{
	struct slice list = S(CORS_ALLOW_HEADERS), tok;
	while (sl_next_token(&list, &tok))
		if (tok.n == h.n && !strncasecmp(tok.p, h.p, h.n))
			return true;
	return false;
}

/* A preflight answered as Starlette's CORSMiddleware did: 200 "OK" or 400 with the reasons. */
static void cors_preflight(struct ctx *c)
{
	const struct http_req *r = c->req;
	struct slice origin = http_header(r, "Origin");
	struct slice method = http_header(r, "Access-Control-Request-Method");
	struct slice hdrs = http_header(r, "Access-Control-Request-Headers"), tok;
	char failures[64] = "";
	bool origin_ok = cors_allowed(origin);
	if (!origin_ok)
		strcat(failures, "origin");
	struct slice methods = S(CORS_ALLOW_METHODS);
	bool method_ok = false;
	while (sl_next_token(&methods, &tok))
		method_ok |= tok.n == method.n && !memcmp(tok.p, method.p, tok.n);
	if (!method_ok)
		strcat(failures, *failures ? ", method" : "method");
	bool headers_ok = true;
	while (sl_next_token(&hdrs, &tok))
		headers_ok &= cors_header_allowed(tok);
	if (!headers_ok)
		strcat(failures, *failures ? ", headers" : "headers");
	if (origin_ok)
		c->origin = origin;
	resp_header(c, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
	resp_header(c, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
	resp_header(c, "Access-Control-Max-Age", "3600");
	if (*failures) {
		char text[96];
		snprintf(text, sizeof text, "Disallowed CORS %s", failures);
		resp_text(c, 400, text);
		return;
	}
	resp_text(c, 200, "OK");
}

/*
 * Serialises the response head and body into out. `closing` adds Connection: close; a
 * HEAD request gets the head only.
 */
static void http_serialize(const struct ctx *c, bool closing, bool http10_keepalive, struct buf *out)
{
	buf_adds(out, "HTTP/1.1 "); /* no printf on the way of every response */
	buf_int(out, c->status);
	buf_addc(out, ' ');
	buf_adds(out, http_reason(c->status));
	buf_adds(out, "\r\n");
	if (c->ctype) {
		buf_adds(out, "Content-Type: ");
		buf_adds(out, c->ctype);
		buf_adds(out, "\r\n");
	}
	buf_adds(out, "Content-Length: ");
	buf_int(out, (long long)c->body.len);
	buf_adds(out, "\r\n");
	if (c->request_id[0]) {
		buf_adds(out, "X-Request-ID: ");
		buf_adds(out, c->request_id);
		buf_adds(out, "\r\n");
	}
	size_t own = memmem(c->headers.p ? c->headers.p : "", c->headers.len, "X-Frame-Options:", 16)
			     ? sizeof HTTP_FRAME_DENY - 1
			     : 0;
	buf_add(out, HTTP_SECURITY_HEADERS + own, sizeof HTTP_SECURITY_HEADERS - 1 - own);
	if (c->origin.n) {
		buf_adds(out, "Access-Control-Allow-Origin: ");
		buf_add(out, c->origin.p, c->origin.n);
		buf_adds(out, "\r\nAccess-Control-Allow-Credentials: true\r\n"
			      "Access-Control-Expose-Headers: Content-Length, Content-Type\r\n"
			      "Vary: Origin\r\n");
	}
	buf_add(out, c->headers.p, c->headers.len);
	if (!memmem(c->headers.p ? c->headers.p : "", c->headers.len, "Cache-Control:", 14))
		buf_adds(out, "Cache-Control: no-store\r\n"); /* an API answer is nobody's to keep */
	if (closing)
		buf_adds(out, "Connection: close\r\n");
	else if (http10_keepalive)
		buf_adds(out, "Connection: keep-alive\r\n");
	buf_adds(out, "\r\n"); /* the body is sent from where it lies (conn_flush) */
}

/* An inbound request id is honoured when it is short and plain; otherwise we make one. */
static void ctx_request_id(struct ctx *c)
{
	struct slice id = http_header(c->req, "X-Request-ID");
	if (!id.n)
		id = http_header(c->req, "X-Railway-Request-Id");
	bool sane = id.n > 0 && id.n <= HTTP_REQUEST_ID_MAX;
	for (size_t i = 0; sane && i < id.n; i++)
		sane = isalnum((unsigned char)id.p[i]) || strchr("-_.:/+=", id.p[i]);
	if (sane) {
		memcpy(c->request_id, id.p, id.n);
		c->request_id[id.n] = 0;
		return;
	}
	uint64_t r[2] = {random_fast(), random_fast()};
	for (int i = 0; i < 32; i++)
		c->request_id[i] = "0123456789abcdef"[(r[i / 16] >> (60 - 4 * (i % 16))) & 15];
	c->request_id[32] = 0;
}

/*
 * An address in one spelling (2001:DB8:0:0::1 and 2001:db8::1 are one client; an IPv4-mapped
 * address is the IPv4 one) into `text`, and the key per-address limits count it under into
 * `key`: an IPv4 address itself, an IPv6 address its /64, the usual allocation of one
 * subscriber. False when `s` is no address.
 */
static bool client_addr(const char *s, char text[INET6_ADDRSTRLEN], char key[CLIENT_KEY_MAX])
{
	struct in6_addr a;
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(&a, 0, sizeof a);
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &a4, 4);
	} else if (inet_pton(AF_INET6, s, &a) != 1) {
		return false;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		inet_ntop(AF_INET, &a.s6_addr[12], text, INET6_ADDRSTRLEN);
		str_copy(key, INET6_ADDRSTRLEN, text);
		return true;
	}
	inet_ntop(AF_INET6, &a, text, INET6_ADDRSTRLEN);
	memset(a.s6_addr + 8, 0, 8);
	inet_ntop(AF_INET6, &a, key, CLIENT_KEY_MAX);
	strcat(key, "/64");
	return true;
}

/* The client: the peer, or the TRUST_PROXY-th entry from the right of X-Forwarded-For. */
static void ctx_client_ip(struct ctx *c, const char *peer)
{
	if (!client_addr(peer, c->client_ip, c->client_key)) {
		str_copy(c->client_ip, sizeof c->client_ip, peer);
		str_copy(c->client_key, INET6_ADDRSTRLEN, peer);
	}
	if (!cfg.trust_proxy)
		return;
	struct slice xff = {NULL, 0};
	for (int i = 0; i < c->req->n_headers; i++) /* several X-Forwarded-For fields form one list */
		if (sl_ieq(c->req->headers[i].name, "X-Forwarded-For"))
			xff = c->req->headers[i].value;
	struct slice pick = {NULL, 0};
	if (xff.n) {
		long long want = cfg.trust_proxy;
		size_t end = xff.n;
		for (;;) {
			const char *comma = memrchr(xff.p, ',', end);
			size_t start = comma ? (size_t)(comma - xff.p) + 1 : 0;
			struct slice tok = sl_trim((struct slice){xff.p + start, end - start});
			if (tok.n && !--want) {
				pick = tok;
				break;
			}
			if (!comma)
				break;
			end = (size_t)(comma - xff.p);
		}
	} else {
		pick = sl_trim(http_header(c->req, "X-Real-IP"));
	}
	char s[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN], key[CLIENT_KEY_MAX];
	if (pick.n && pick.n < sizeof s) {
		memcpy(s, pick.p, pick.n);
		s[pick.n] = 0;
		if (client_addr(s, text, key)) {
			memcpy(c->client_ip, text, sizeof text);
			memcpy(c->client_key, key, sizeof key);
		}
	}
}

/* --- Request bodies and validation errors in the original's 422 shape --- */

/*
 * The original's 422 body (ORIGINAL_API 1.2) plus `detail`, the first message (DECISIONS C6).
 * Handlers collect errors with verr_add() and answer with resp_validation().
 */
static void verr_add(struct ctx *c, const char *field, const char *msg)
{
	if (c->n_verrs < (int)(sizeof c->verrs / sizeof c->verrs[0]))
		c->verrs[c->n_verrs++] = (struct verr){field, msg};
}

static void resp_validation(struct ctx *c)
{
	struct buf *b = resp_json(c, 422);
	json_kv_str(b, "error", "Validation Error");
	json_kv_str(b, "message", "Invalid input provided");
	json_key(b, "details");
	buf_addc(b, '[');
	for (int i = 0; i < c->n_verrs; i++) {
		if (i)
			buf_addc(b, ',');
		buf_addc(b, '{');
		json_kv_str(b, "field", c->verrs[i].field);
		json_kv_str(b, "message", c->verrs[i].msg);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
	json_kv_str(b, "detail", c->n_verrs ? c->verrs[0].msg : "Invalid input");
	resp_end(c);
}

/* "Value error, " + text, as pydantic prefixed custom validator messages. */
static const char *verr_value(struct ctx *c, const char *text)
{
	size_t n = strlen(text);
	char *s = arena_alloc(&c->arena, n + 14);
	if (!s)
		return text;
	memcpy(s, "Value error, ", 13);
	memcpy(s + 13, text, n + 1);
	return s;
}

/* No Content-Type, application/json or application/<x>+json, as Starlette decided. */
static bool content_type_json(struct slice ct)
{
	if (!ct.n)
		return true;
	const char *semi = memchr(ct.p, ';', ct.n);
	struct slice mt = sl_trim((struct slice){ct.p, semi ? (size_t)(semi - ct.p) : ct.n});
	if (mt.n < 12 || strncasecmp(mt.p, "application/", 12))
		return false;
	return sl_ieq(mt, "application/json") || (mt.n > 17 && !strncasecmp(mt.p + mt.n - 5, "+json", 5));
}

/*
 * Parses the request body as a JSON object into c->json (index 0). On failure the 422 is
 * written and -1 returned: a body that is not JSON, or JSON that is not an object.
 */
static int body_object(struct ctx *c)
{
	const struct http_req *r = c->req;
	if (!r->body.n) {
		verr_add(c, "", "Field required");
		resp_validation(c);
		return -1;
	}
	if (!content_type_json(http_header(r, "Content-Type"))) { /* ORIGINAL_API 1.1 */
		verr_add(c, "", "Input should be a valid dictionary or object to extract fields from");
		resp_validation(c);
		return -1;
	}
	if (json_parse(&c->arena, r->body.p, r->body.n, &c->json)) {
		char *pos = arena_alloc(&c->arena, 16);
		if (pos)
			snprintf(pos, 16, "%d", c->json.error_pos);
		verr_add(c, pos ? pos : "0", "JSON decode error");
		resp_validation(c);
		return -1;
	}
	if (json_kind(&c->json, 0) != JK_OBJECT) {
		verr_add(c, "", "Input should be a valid dictionary or object to extract fields from");
		resp_validation(c);
		return -1;
	}
	return 0;
}

static bool has_control_chars(const char *s, size_t n, bool multiline)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 || s[i] == 0x7f) && !(multiline && strchr("\n\r\t", s[i])))
			return true;
	return false;
}

enum field_flags {
	F_OPTIONAL = 1,  /* missing or null is fine: *out stays NULL */
	F_CONTROL = 2,   /* control characters allowed (free text) */
	F_MULTILINE = 4, /* line breaks and tabs allowed, other controls not (a bio) */
};

/*
 * Reads string field `key` of the body object, with pydantic's messages for missing and
 * mistyped values and DECISIONS F's checks (no control characters, no NUL). Length limits
 * are in code points; 0 means none. Returns 0, or -1 after recording the error.
 */
static int field_str(struct ctx *c, const char *key, unsigned flags, size_t min, size_t max, char **out)
{
	*out = NULL;
	int i = json_get(&c->json, 0, key);
	enum json_kind k = json_kind(&c->json, i);
	if (i < 0 || k == JK_NULL) {
		if (flags & F_OPTIONAL)
			return 0;
		verr_add(c, key, i < 0 ? "Field required" : "Input should be a valid string");
		return -1;
	}
	size_t len;
	char *s = k == JK_STRING ? json_string(&c->json, i, &c->arena, &len) : NULL;
	if (!s) {
		verr_add(c, key,
			 k == JK_STRING ? "Input should be a valid string, invalid unicode"
					: "Input should be a valid string");
		return -1;
	}
	if (strlen(s) != len || (!(flags & F_CONTROL) && has_control_chars(s, len, flags & F_MULTILINE))) {
		verr_add(c, key, verr_value(c, "Control characters are not allowed"));
		return -1;
	}
	size_t cps = utf8_len(s, len);
	if (cps < min) {
		verr_add(c, key, "Must be at least required characters");
		return -1;
	}
	if (max && cps > max) {
		verr_add(c, key, "Must be at most allowed characters");
		return -1;
	}
	*out = s;
	return 0;
}

/* pydantic's lax booleans: true/false, 0/1, and the usual words. */
static int field_bool(struct ctx *c, const char *key, bool def, bool *out)
{
	*out = def;
	int i = json_get(&c->json, 0, key);
	enum json_kind k = json_kind(&c->json, i);
	if (i < 0)
		return 0;
	if (k == JK_TRUE || k == JK_FALSE) {
		*out = k == JK_TRUE;
		return 0;
	}
	long long n;
	if (json_int(&c->json, i, &n) && (n == 0 || n == 1)) {
		*out = n == 1;
		return 0;
	}
	size_t len;
	char *s = k == JK_STRING ? json_string(&c->json, i, &c->arena, &len) : NULL;
	static const char *const yes[] = {"1", "on", "t", "true", "y", "yes"};
	static const char *const no[] = {"0", "off", "f", "false", "n", "no"};
	for (size_t w = 0; s && w < sizeof yes / sizeof yes[0]; w++) {
		if (!strcasecmp(s, yes[w]))
			return *out = true, 0;
		if (!strcasecmp(s, no[w]))
			return *out = false, 0;
	}
	verr_add(c, key,
		 k == JK_ARRAY || k == JK_OBJECT
			 ? "Input should be a valid boolean"
			 : "Input should be a valid boolean, unable to interpret input");
	return -1;
}

/* Trims ASCII white space in place (Python's str.strip() on what clients send). */
static char *str_trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

/* Decoded value of a query-string parameter (form encoding), or NULL when absent. */
static char *query_param(struct ctx *c, const char *name)
{
	struct slice q = c->req->query;
	size_t nlen = strlen(name);
	char *found = NULL;
	while (q.n) {
		const char *amp = memchr(q.p, '&', q.n);
		size_t len = amp ? (size_t)(amp - q.p) : q.n;
		const char *eq = memchr(q.p, '=', len);
		size_t klen = eq ? (size_t)(eq - q.p) : len;
		if (klen == nlen && !memcmp(q.p, name, nlen)) {
			const char *v = eq ? eq + 1 : q.p + len;
			size_t vn = eq ? len - klen - 1 : 0;
			char *out = arena_alloc(&c->arena, vn + 1);
			size_t o = 0;
			for (size_t i = 0; out && i < vn; i++) {
				if (v[i] == '+') {
					out[o++] = ' ';
				} else if (v[i] == '%' && i + 2 < vn && isxdigit((unsigned char)v[i + 1]) &&
					   isxdigit((unsigned char)v[i + 2])) {
					char hex[3] = {v[i + 1], v[i + 2], 0};
					out[o++] = (char)strtol(hex, NULL, 16);
					i += 2;
				} else {
					out[o++] = v[i];
				}
			}
			if (out) {
				out[o] = 0;
				found = utf8_valid(out, o) && strlen(out) == o ? out : NULL;
			}
		}
		q.p += amp ? len + 1 : len;
		q.n -= amp ? len + 1 : len;
	}
	return found;
}

/* ==== 8. Event loop and connections ================================================ */

enum conn_state {
	CONN_HEAD,   /* waiting for (the rest of) a request head; idle keep-alive when rlen == 0 */
	CONN_BODY,   /* reading the body */
	CONN_BUSY,   /* a worker runs the handler; the socket is not polled */
	CONN_WRITE,  /* the response is being written */
	CONN_LINGER, /* response sent, write side shut: discard input until EOF, then close */
};

/* DL_FRESH: a new connection must start its first request within HEAD_TIMEOUT_MS */
enum deadline_kind { DL_NONE, DL_FRESH, DL_KEEPALIVE, DL_HEAD, DL_IDLE, DL_WRITE, DL_LINGER };

/*
 * What one in-flight request needs beyond the connection: parsed head, context, decoded body
 * and the read buffer itself. Taken from a free list when a request starts and returned when
 * the connection goes idle, so an idle keep-alive connection costs only its struct conn.
 */
struct rblock {
	struct rblock *next_free;
	struct http_req req;
	struct ctx ctx;
	struct buf body;     /* a body that does not fit after the head, a chunked one, or the photo */
	struct buf scratch;  /* decoded chunks on their way into the multipart parser */
	struct multipart mp; /* the photo upload's parser, when `multipart` */
	bool multipart;
	uint64_t body_seen; /* raw body bytes received (multipart) */
	struct buf out;     /* a connection's response buffer, kept here while it is idle */
	size_t cap;         /* size of data[] */
	char data[];
};

struct conn {
	struct conn *prev, *next; /* every open connection, for the timer sweep */
	struct conn *next_job;    /* work and completion queues */
	int fd;
	enum conn_state state;
	enum deadline_kind dl_kind;
	uint32_t events; /* what epoll watches now; 0: not registered */
	bool close_after, head_only, http10_keepalive;
	bool ready; /* in L.ready: pipelined requests wait for the loop's next turn */
	int64_t deadline;
	struct rblock *rb;
	size_t rlen;                   /* bytes in rb->data */
	size_t head_len;               /* parsed head, 0 while none */
	size_t head_resume, head_scan; /* while it is read: where its parse goes on; bytes searched */
	size_t consumed;               /* bytes of rb->data this request used up (head and in-place body) */
	struct chunked ck;
	struct buf out;
	size_t out_off;
	const char *tail; /* after `out`: the response body where it lies (the request's ctx.body
			     or an embedded document), until it is written or the connection closes */
	size_t tail_len, tail_off;
	size_t body_held;       /* this request's share of L.body_bytes */
	uint32_t body_slot;     /* its client's counter in L.body_share */
	int64_t body_start;     /* when its body began, while it is read (BODY_TIMEOUT_MS) */
	uint64_t body_received; /* body bytes read so far */
	struct in6_addr ip_key; /* its peer's entry in L.iptab (an IPv6 peer's /64) */
	char peer[INET6_ADDRSTRLEN];
};

struct iptab_entry {
	struct in6_addr addr;
	uint32_t count;
};

static struct {
	int ep, listen_fd, event_fd, signal_fd, reserve_fd;
	struct conn *conns;
	struct conn *ready, *ready_tail; /* through next_job (see conn_advance) */
	long long n_conns;
	struct rblock *free_blocks;
	int n_free_blocks;
	struct iptab_entry *iptab; /* a power of two over twice MAX_CONNECTIONS: never full */
	uint32_t iptab_mask;
	uint64_t iptab_key; /* keys the hash, so nobody can aim addresses at one chain */
	size_t body_bytes;  /* request bodies held in memory (MAX_BUFFERED_BODY_BYTES) */
	size_t *body_share; /* the same per client (a keyed hash of its address), SHARE_SLOTS */
	int64_t tick_ms;
	/* drain (DECISIONS R5) */
	atomic_bool draining;
	int64_t drain_close_at, exit_deadline;
	bool listener_closed;
	/* jobs: the loop pushes onto `work`, workers push finished ones onto `done` */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	struct conn *work_head, *work_tail, *done_head;
	int n_work, n_busy;
	bool stopping;
	int64_t started_ms;
} L = {.ep = -1,
       .listen_fd = -1,
       .event_fd = -1,
       .signal_fd = -1,
       .reserve_fd = -1,
       .mu = PTHREAD_MUTEX_INITIALIZER,
       .work_cv = PTHREAD_COND_INITIALIZER};

enum { EV_LISTEN = 1, EV_JOBS = 2, EV_SIGNAL = 3 }; /* epoll tags that are not connections */

static void route_dispatch(struct conn *c);
static void worker_enqueue(struct conn *c);
static const struct route *route_find(const struct http_req *r, bool head_only, struct slice params[4],
				      char *allow, size_t allow_len);
static const char PHOTO_TOO_LARGE[] = "File too large. Maximum size is 10MB";
static int auth_token(struct ctx *c);
static uint32_t share_slot(const char *who);

static struct rblock *rblock_get(void)
{
	struct rblock *b = L.free_blocks;
	size_t cap = (size_t)cfg.max_head_bytes + HTTP_RBUF_SLACK;
	struct arena arena = {0};
	struct buf body = {0}, headers = {0}, out = {0};
	if (b) {
		L.free_blocks = b->next_free;
		L.n_free_blocks--;
		arena = b->ctx.arena; /* kept from the last request (rblock_put) */
		body = b->ctx.body;
		headers = b->ctx.headers;
		out = b->out;
	} else {
		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->cap = cap;
	}
	memset(b, 0, offsetof(struct rblock, cap));
	b->ctx.arena = arena;
	b->ctx.body = body;
	b->ctx.headers = headers;
	b->out = out;
	return b;
}

/* A response buffer small enough to keep for the next request: its memory, emptied. */
static struct buf rblock_keep_buf(struct buf *b)
{
	if (b->cap > RBLOCK_KEEP_BUF || b->borrowed)
		buf_free(b);
	return (struct buf){.p = b->p, .cap = b->cap};
}

/* A request's context made new for the next one, keeping its memory (see rblock_put). */
static void ctx_recycle(struct ctx *x)
{
	PQclear(x->loop_result);
	struct arena arena = x->arena;
	arena_reset(&arena);
	struct buf body = rblock_keep_buf(&x->body), headers = rblock_keep_buf(&x->headers);
	memset(x, 0, sizeof *x);
	x->arena = arena;
	x->body = body;
	x->headers = headers;
}

/*
 * A block back to the pool keeps its arena's first block and small response buffers, so a
 * request on a pooled block allocates nothing for them (musl's allocator gives small groups
 * back to the kernel as soon as they empty: a mmap and munmap per request otherwise).
 */
static void rblock_put(struct rblock *b)
{
	buf_free(&b->body);
	buf_free(&b->scratch);
	if (L.n_free_blocks >= BUF_POOL_KEEP) {
		PQclear(b->ctx.loop_result);
		buf_free(&b->out);
		buf_free(&b->ctx.body);
		buf_free(&b->ctx.headers);
		arena_free(&b->ctx.arena);
		free(b);
		return;
	}
	ctx_recycle(&b->ctx);
	b->next_free = L.free_blocks;
	L.free_blocks = b;
	L.n_free_blocks++;
}

/*
 * Open connections per peer address, for MAX_CONNECTIONS_PER_IP: linear probing with
 * backward-shift deletion, so a chain never holds a hole and one address never two entries.
 * The table has more slots than connections can exist, so it never fills.
 */
static uint32_t iptab_home(const struct in6_addr *a)
{
	uint64_t h = L.iptab_key ^ 14695981039346656037ull; /* FNV-1a, keyed */
	for (int i = 0; i < 16; i++)
		h = (h ^ a->s6_addr[i]) * 1099511628211ull;
	return (uint32_t)(h ^ h >> 32) & L.iptab_mask;
}

/* The entry of `a`, or the empty slot where it would go. */
static struct iptab_entry *iptab_find(const struct in6_addr *a)
{
	for (uint32_t s = iptab_home(a);; s = (s + 1) & L.iptab_mask) {
		struct iptab_entry *e = &L.iptab[s];
		if (!e->count || !memcmp(&e->addr, a, sizeof *a))
			return e;
	}
}

/* One connection of `a` fewer; an entry whose count reaches 0 leaves without a hole. */
static void iptab_release(const struct in6_addr *a)
{
	struct iptab_entry *e = iptab_find(a);
	if (!e->count || --e->count)
		return;
	uint32_t hole = (uint32_t)(e - L.iptab);
	for (uint32_t s = (hole + 1) & L.iptab_mask; L.iptab[s].count; s = (s + 1) & L.iptab_mask) {
		uint32_t home = iptab_home(&L.iptab[s].addr);
		/* move it back unless its home lies cyclically in (hole, s] */
		bool stays = hole <= s ? (hole < home && home <= s) : (hole < home || home <= s);
		if (!stays) {
			L.iptab[hole] = L.iptab[s];
			L.iptab[s].count = 0;
			hole = s;
		}
	}
}

static void conn_watch(struct conn *c, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = {.events = events, .data.ptr = c};
	int op = !c->events ? EPOLL_CTL_ADD : !events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
	if (epoll_ctl(L.ep, op, c->fd, &ev) == 0 || op == EPOLL_CTL_DEL)
		c->events = events;
}

static void conn_set_deadline(struct conn *c, enum deadline_kind kind)
{
	long long ms = 0;
	switch (kind) {
	case DL_KEEPALIVE: ms = cfg.keepalive_timeout_ms; break;
	case DL_FRESH:
	case DL_HEAD: ms = cfg.head_timeout_ms; break;
	case DL_IDLE:
	case DL_WRITE: ms = cfg.idle_timeout_ms; break;
	case DL_LINGER: ms = cfg.idle_timeout_ms < LINGER_MS ? cfg.idle_timeout_ms : LINGER_MS; break;
	case DL_NONE: break;
	}
	c->dl_kind = kind;
	c->deadline = kind == DL_NONE ? 0 : now_ms() + ms;
	if (kind == DL_IDLE && c->body_start) {
		/* the whole body's deadline: BODY_TIMEOUT_MS, plus time for what arrived at the
		   minimum rate, so a slow phone finishes a photo and a trickle does not */
		int64_t body = c->body_start + cfg.body_timeout_ms +
			       (int64_t)(c->body_received * 1000 / (uint64_t)cfg.body_min_bytes_per_second);
		c->deadline = c->deadline < body ? c->deadline : body;
	}
}

/* Would `more` body bytes fit, all connections together and this one's client? */
static bool conn_body_fits(const struct conn *c, size_t more)
{
	return L.body_bytes + more <= (size_t)cfg.max_buffered_body_bytes &&
	       L.body_share[c->body_slot] + more <= (size_t)cfg.max_buffered_body_bytes_per_client;
}

/*
 * The body bytes a request holds, counted against MAX_BUFFERED_BODY_BYTES and its client's
 * share as they arrive (a body's buffer is allocated once at its full size, but pages nothing
 * was written to cost no memory, so a client that sends nothing holds nothing); it never
 * shrinks while the request lasts. False past a cap.
 */
static bool conn_body_account(struct conn *c)
{
	size_t held = c->rb ? c->rb->body.len + c->rb->scratch.cap : 0;
	held = held > c->body_held ? held : c->body_held;
	size_t more = held - c->body_held;
	bool fits = conn_body_fits(c, more);
	L.body_bytes += more;
	L.body_share[c->body_slot] += more;
	c->body_held = held;
	return fits;
}

static void conn_body_release(struct conn *c)
{
	L.body_bytes -= c->body_held;
	L.body_share[c->body_slot] -= c->body_held;
	c->body_held = 0;
	c->body_start = 0;
}

static void conn_close(struct conn *c)
{
	for (struct conn **at = &L.ready, *prev = NULL; c->ready && *at; prev = *at, at = &(*at)->next_job)
		if (*at == c) {
			*at = c->next_job;
			if (L.ready_tail == c)
				L.ready_tail = prev;
			break;
		}
	conn_watch(c, 0);
	close(c->fd);
	conn_body_release(c);
	iptab_release(&c->ip_key);
	if (c->rb)
		rblock_put(c->rb);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		L.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	L.n_conns--;
	free(c);
}

static void conn_log(struct conn *c)
{
	const struct ctx *x = &c->rb->ctx;
	const struct http_req *r = &c->rb->req;
	metrics_record(x->route, x->status, (double)(now_us() - x->t_start) / 1e6);
	enum log_level lvl = LOG_INFO;
	bool probe = sl_eq(r->path, "/health") || sl_eq(r->path, "/ready") || sl_eq(r->path, "/livez");
	if (x->status >= 500 && !probe)
		counter_bump(&MT_ALL.errors);
	if (probe && x->status < 300)
		lvl = LOG_DEBUG; /* balancers probe every few seconds: only failing answers are news */
	if (lvl < log_min)
		return;
	char fields[LOG_LINE_MAX / 2];
	struct buf f = {.p = fields, .cap = sizeof fields, .max = sizeof fields, .borrowed = true};
	json_kv_str(&f, "request_id", x->request_id);
	json_key(&f, "method");
	json_str(&f, r->method.p, r->method.n < 16 ? r->method.n : 16);
	json_key(&f, "path");
	json_str(&f, r->path.p, r->path.n < 256 ? r->path.n : 256);
	json_kv_int(&f, "status", x->status);
	json_key(&f, "duration_ms");
	buf_printf(&f, "%.3f", (double)(now_us() - x->t_start) / 1000.0);
	json_kv_str(&f, "ip", x->client_ip);
	if (f.over)
		f.len = 0;
	log_emit(lvl, "request", &f);
}

/*
 * Writes the head in c->out and the body after it, from where it lies, in one call each time;
 * at most LOOP_WRITE_MAX_BYTES per turn of the loop, so a large response shares the loop with
 * everyone else. True when all is sent (or *dead).
 */
static bool conn_flush(struct conn *c, bool *dead, size_t *budget)
{
	while (c->out_off < c->out.len || c->tail_off < c->tail_len) {
		if (!*budget)
			return false; /* the socket is still writable: the next turn goes on */
		struct iovec iov[2];
		struct msghdr msg = {.msg_iov = iov};
		size_t left = *budget;
		if (c->out_off < c->out.len) {
			size_t n = c->out.len - c->out_off;
			iov[msg.msg_iovlen++] = (struct iovec){c->out.p + c->out_off, n < left ? n : left};
			left -= iov[0].iov_len;
		}
		if (c->tail_off < c->tail_len && left) {
			size_t n = c->tail_len - c->tail_off;
			iov[msg.msg_iovlen++] =
				(struct iovec){(char *)c->tail + c->tail_off, n < left ? n : left};
		}
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (w <= 0) {
			*dead = true;
			return true;
		}
		size_t sent = (size_t)w, head = c->out.len - c->out_off;
		*budget -= sent;
		c->out_off += sent < head ? sent : head;
		c->tail_off += sent < head ? 0 : sent - head;
	}
	c->out.len = c->out_off = c->tail_len = c->tail_off = 0;
	c->tail = NULL;
	if (c->out.cap > RBLOCK_KEEP_BUF) /* an idle connection keeps no large response */
		buf_free(&c->out);
	return true;
}

/*
 * The response in rb->ctx is complete: serialise it and log it. The caller then runs
 * conn_advance(), which writes it; nothing here frees the connection.
 */
static void conn_respond(struct conn *c)
{
	struct ctx *x = &c->rb->ctx;
	if (atomic_load(&L.draining) || !c->rb->req.keep_alive)
		c->close_after = true;
	if (x->status == 0)
		resp_internal_error(x, "handler wrote no response");
	if (x->body.over || x->headers.over)
		resp_internal_error(x, "response too large");
	/* the body (a handler's, or an embedded document) is sent from where it lies, never copied */
	http_serialize(x, c->close_after, c->http10_keepalive && !c->close_after, &c->out);
	c->tail = c->head_only ? NULL : x->body.p;
	c->tail_len = c->head_only ? 0 : x->body.len;
	conn_log(c);
	c->state = CONN_WRITE;
	conn_set_deadline(c, DL_WRITE);
}

/* Answers a request that could not be parsed or framed; the connection then closes. */
static void conn_fail(struct conn *c, int status, const char *detail)
{
	struct ctx *x = &c->rb->ctx;
	buf_free(&c->rb->body); /* the request is over: its body's memory need not wait for the write */
	buf_free(&c->rb->scratch);
	conn_body_release(c);
	c->close_after = true;
	c->rb->req.keep_alive = false;
	if (!x->client_ip[0])
		memcpy(x->client_ip, c->peer, sizeof x->client_ip);
	if (!x->request_id[0]) {
		uint64_t a = random_fast();
		snprintf(x->request_id, sizeof x->request_id, "%016" PRIx64, a);
	}
	if (!x->t_start)
		x->t_start = now_us();
	resp_detail(x, status, detail);
	conn_respond(c);
}

static const char *http_status_detail(int status)
{
	switch (status) {
	case 408: return "Request timeout";
	case 413: return "Request body too large";
	case 417: return "Expectation not supported";
	case 431: return "Request header fields too large";
	case 505: return "HTTP version not supported";
	default: return "Bad request";
	}
}

/*
 * Before any body byte is read or 100 Continue is sent: a route that needs a token checks its
 * signature and expiry from the head, so nobody without a valid token makes a replica hold a
 * body (the session row is still checked by the handler); and a body that will not fit in
 * the read buffer reserves its Content-Length against MAX_BUFFERED_BODY_BYTES, in one exact
 * allocation that never grows. False when the answer (401 or 503) is written.
 */
static bool conn_body_admit(struct conn *c)
{
	struct rblock *rb = c->rb;
	struct http_req *r = &rb->req;
	struct ctx *x = &rb->ctx;
	if (r->body_kind == BODY_NONE)
		return true;
	bool arrived = r->body_kind == BODY_LENGTH && c->rlen - c->head_len >= r->content_length;
	c->body_slot = share_slot(x->client_key);
	if (x->route && (x->route->flags & R_AUTH) && auth_token(x)) {
		if (arrived) /* the body is here already: skip it and keep the connection */
			c->consumed = c->head_len + r->content_length;
		else
			c->close_after = true, r->keep_alive = false; /* it is never read */
		conn_respond(c);
		return false;
	}
	size_t want = 0;
	if (r->body_kind == BODY_LENGTH && c->head_len + r->content_length > rb->cap) {
		want = (size_t)r->content_length; /* the file part of a photo is never longer */
		want = want < rb->body.max ? want : rb->body.max;
		rb->body.max = want;
	}
	if (!conn_body_fits(c, want) || (want && !buf_reserve(&rb->body, want))) {
		log_msg(LOG_WARN, "MAX_BUFFERED_BODY_BYTES reached: a request refused");
		resp_header(x, "Retry-After", "1");
		conn_fail(c, 503, "Service unavailable");
		return false;
	}
	return true;
}

/* The head is complete: frame it, find the route and decide how to read the body. */
static void conn_start_request(struct conn *c, size_t head_len)
{
	struct rblock *rb = c->rb;
	struct http_req *r = &rb->req;
	struct ctx *x = &rb->ctx;
	int status;
	x->req = r;
	x->t_start = now_us();
	c->head_len = head_len;
	ctx_request_id(x);
	ctx_client_ip(x, c->peer);
	if (http_frame(r, &status)) {
		conn_fail(c, status, http_status_detail(status));
		return;
	}
	c->head_only = sl_eq(r->method, "HEAD");
	c->http10_keepalive = r->minor == 0 && r->keep_alive;
	x->route = route_find(r, c->head_only, x->params, NULL, 0);
	struct slice origin = http_header(r, "Origin");
	if (cors_allowed(origin))
		x->origin = origin; /* early answers (401, 413, 503) reach a browser too */
	bool photo = x->route && (x->route->flags & R_PHOTO);
	uint64_t limit = photo ? PHOTO_MAX_BYTES + PHOTO_MULTIPART_SLACK : (uint64_t)cfg.max_json_body;
	const char *too_large = photo ? PHOTO_TOO_LARGE : http_status_detail(413);
	if (r->body_kind == BODY_LENGTH && r->content_length > limit) {
		conn_fail(c, 413, too_large); /* decided before any body byte is read */
		return;
	}
	char boundary[MP_BOUNDARY_MAX + 1];
	int mp = photo ? mp_boundary(http_header(r, "Content-Type"), boundary) : -1;
	if (mp == -2) { /* multipart/form-data without a usable boundary, as Starlette answered */
		conn_fail(c, 400, "Missing boundary in multipart.");
		return;
	}
	if (!mp) {
		mp_init(&rb->mp, boundary);
		rb->multipart = true;
	}
	rb->body = (struct buf){.max = rb->multipart ? PHOTO_MAX_BYTES : (size_t)limit};
	rb->scratch = (struct buf){.max = (size_t)limit};
	if (!conn_body_admit(c))
		return;
	if (r->expect_continue) {  /* what a full socket does not take goes before the response */
		bool dead = false; /* the body's read finds out */
		size_t budget = LOOP_WRITE_MAX_BYTES;
		buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		conn_flush(c, &dead, &budget);
	}
	c->ck = (struct chunked){CHUNK_SIZE, 0};
	c->consumed = head_len;
	c->state = CONN_BODY;
	c->body_start = now_ms();
	c->body_received = 0;
	conn_set_deadline(c, DL_IDLE);
}

/*
 * The photo upload's body: raw (or de-chunked) bytes go through the multipart parser as they
 * arrive, and only the file part is kept, so the 10 MiB limit holds while streaming.
 */
static bool conn_read_multipart(struct conn *c)
{
	struct rblock *rb = c->rb;
	struct http_req *r = &rb->req;
	char *p = rb->data + c->head_len;
	size_t avail = c->rlen - c->head_len, used;
	const char *raw = p;
	size_t raw_n;
	int status = 400;
	bool done;
	if (r->body_kind == BODY_LENGTH) {
		uint64_t left = r->content_length - rb->body_seen;
		used = raw_n = avail < left ? avail : (size_t)left;
		done = rb->body_seen + used == r->content_length;
	} else {
		rb->scratch.len = 0;
		ssize_t k = http_chunked_feed(&c->ck, p, avail, &rb->scratch, &status);
		if (k < 0)
			goto out_fail;
		used = (size_t)k;
		raw = rb->scratch.p, raw_n = rb->scratch.len;
		done = c->ck.state == CHUNK_DONE;
		if (!used && c->rlen == rb->cap) /* a size line or trailer the buffer cannot hold */
			goto out_fail;
	}
	rb->body_seen += raw_n;
	if (rb->body_seen > PHOTO_MAX_BYTES + PHOTO_MULTIPART_SLACK) {
		status = 413;
		goto out_fail;
	}
	if (mp_feed(&rb->mp, raw, raw_n, &rb->body, &status))
		goto out_fail;
	memmove(p, p + used, avail - used);
	c->rlen -= used;
	if (done && rb->mp.state != MP_DONE) {
		status = 400;
		goto out_fail;
	}
	if (done) {
		r->body = (struct slice){rb->body.p ? rb->body.p : "", rb->body.len};
		rb->ctx.upload = &rb->mp;
	}
	return done;
out_fail:
	conn_fail(c, status,
		  status == 413   ? PHOTO_TOO_LARGE
		  : status == 400 ? "Malformed multipart body"
				  : http_status_detail(status));
	return false;
}

/* Consumes body bytes that have arrived; true when the body is complete. */
static bool conn_read_body(struct conn *c)
{
	struct rblock *rb = c->rb;
	struct http_req *r = &rb->req;
	if (r->body_kind == BODY_NONE) {
		r->body = (struct slice){"", 0};
		return true;
	}
	if (rb->multipart)
		return conn_read_multipart(c);
	if (r->body_kind == BODY_LENGTH && c->head_len + r->content_length <= rb->cap) {
		if (c->rlen < c->head_len + r->content_length)
			return false; /* read in place */
		r->body = (struct slice){rb->data + c->head_len, r->content_length};
		c->consumed = c->head_len + r->content_length;
		return true;
	}
	/* move what arrived out of the read buffer, leaving pipelined bytes behind the head */
	char *p = rb->data + c->head_len;
	size_t avail = c->rlen - c->head_len, used;
	bool done;
	if (r->body_kind == BODY_LENGTH) {
		used = r->content_length - rb->body.len;
		used = avail < used ? avail : used;
		buf_add(&rb->body, p, used);
		done = rb->body.len == r->content_length;
	} else {
		int status;
		ssize_t k = http_chunked_feed(&c->ck, p, avail, &rb->body, &status);
		if (k < 0) {
			conn_fail(c, status, http_status_detail(status));
			return false;
		}
		used = (size_t)k;
		done = c->ck.state == CHUNK_DONE;
		if (!used && c->rlen == rb->cap) { /* a size line or trailer the buffer cannot hold */
			conn_fail(c, 400, http_status_detail(400));
			return false;
		}
	}
	if (rb->body.over) {
		conn_fail(c, 503, "Service unavailable");
		return false;
	}
	memmove(p, p + used, avail - used);
	c->rlen -= used;
	if (done)
		r->body = (struct slice){rb->body.p ? rb->body.p : "", rb->body.len};
	return done;
}

/* Forgets the finished request, keeping pipelined bytes that follow it. */
static void conn_finish_request(struct conn *c)
{
	struct rblock *rb = c->rb;
	size_t left = c->rlen - c->consumed;
	memmove(rb->data, rb->data + c->consumed, left);
	c->rlen = left;
	c->head_len = c->consumed = c->head_resume = c->head_scan = 0;
	conn_body_release(c);
	buf_free(&rb->body);
	rb->body.max = 0;
	buf_free(&rb->scratch);
	rb->multipart = false;
	rb->body_seen = 0;
	ctx_recycle(&rb->ctx);
	c->head_only = false; /* an error before the next head is framed has a body again */
	c->state = CONN_HEAD;
	if (!left) { /* idle: its memory goes back until the next request, the output buffer too */
		rb->out = rblock_keep_buf(&c->out);
		c->out = (struct buf){0};
		rblock_put(rb);
		c->rb = NULL;
		conn_set_deadline(c, DL_KEEPALIVE);
	} else {
		conn_set_deadline(c, DL_HEAD);
	}
}

/*
 * The head's length once it is all in, -2 while more must come, or -1 with *status. Linear in
 * the head however it arrives: a read that completes no line is only searched for its end (the
 * parse resumes where the last one stopped), except early in a line, where bad bytes are
 * refused at once.
 */
static int conn_parse_head(struct conn *c, int *status)
{
	int n = -2;
	const char *d = c->rb->data;
	bool line_end = memchr(d + c->head_scan, '\n', c->rlen - c->head_scan);
	c->head_scan = c->rlen;
	if (line_end || c->rlen - c->head_resume <= HTTP_HEAD_EAGER_BYTES)
		n = http_parse_head(d, c->rlen, &c->rb->req, (int)cfg.max_headers, status, &c->head_resume);
	if ((n == -2 && c->rlen >= (size_t)cfg.max_head_bytes) || n > cfg.max_head_bytes) {
		*status = 431;
		return -1;
	}
	return n;
}

/*
 * Runs the connection's state machine as far as the bytes at hand allow, within one turn's
 * budget: LOOP_WRITE_MAX_BYTES written and LOOP_REQUESTS_PER_TURN pipelined requests answered.
 * Past it, a socket still writable is watched for the next turn, and requests already read
 * wait in L.ready, which the loop serves after the next epoll_wait.
 */
static void conn_advance(struct conn *c)
{
	size_t budget = LOOP_WRITE_MAX_BYTES;
	int answered = 0;
	for (;;) {
		switch (c->state) {
		case CONN_HEAD: {
			if (!c->rlen) {
				if (c->close_after || (atomic_load(&L.draining) && L.listener_closed)) {
					conn_close(c);
					return;
				}
				conn_watch(c, EPOLLIN);
				return;
			}
			int status, n = conn_parse_head(c, &status);
			if (n == -2) {
				if (c->dl_kind != DL_HEAD)
					conn_set_deadline(c, DL_HEAD);
				conn_watch(c, EPOLLIN);
				return;
			}
			if (n < 0)
				conn_fail(c, status, http_status_detail(status));
			else
				conn_start_request(c, (size_t)n);
			break;
		}
		case CONN_BODY: {
			bool done = conn_read_body(c);
			if (c->state != CONN_BODY)
				break; /* it failed: write the error */
			if (!conn_body_account(c) && !done) {
				log_msg(LOG_WARN, "MAX_BUFFERED_BODY_BYTES reached: a request refused");
				conn_fail(c, 503, "Service unavailable");
				break;
			}
			if (!done) {
				conn_watch(c, EPOLLIN);
				return;
			}
			c->state = CONN_BUSY;
			conn_set_deadline(c, DL_NONE);
			route_dispatch(c); /* responds inline (CONN_WRITE) or parks it on a worker */
			break;
		}
		case CONN_BUSY:
		case CONN_LINGER: return;
		case CONN_WRITE: {
			bool dead = false;
			if (!conn_flush(c, &dead, &budget)) {
				conn_watch(c, EPOLLOUT);
				return;
			}
			if (dead) {
				conn_close(c);
				return;
			}
			if (c->close_after) {
				/*
				 * Closing with unread input makes the kernel send a reset, which can
				 * destroy the response before the client reads it: shut our side and
				 * drain theirs for a moment first (a "lingering close").
				 */
				shutdown(c->fd, SHUT_WR);
				c->state = CONN_LINGER;
				conn_set_deadline(c, DL_LINGER);
				conn_watch(c, EPOLLIN);
				return;
			}
			conn_finish_request(c);
			if (++answered >= LOOP_REQUESTS_PER_TURN && c->rlen) {
				c->ready = true;
				*(L.ready_tail ? &L.ready_tail->next_job : &L.ready) = c;
				L.ready_tail = c;
				c->next_job = NULL;
				conn_watch(c, 0); /* what it sent is read already; more waits in the socket */
				return;
			}
			break;
		}
		}
	}
}

/* After each batch of events: the connections whose pipelined requests waited a turn. */
static void loop_serve_ready(void)
{
	struct conn *c = L.ready;
	L.ready = L.ready_tail = NULL;
	while (c) {
		struct conn *next = c->next_job;
		c->ready = false;
		conn_advance(c); /* it may close c, or queue it again for the turn after */
		c = next;
	}
}

static void conn_on_readable(struct conn *c)
{
	if (c->state == CONN_LINGER) {
		char sink[4096];
		ssize_t n = recv(c->fd, sink, sizeof sink, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (!c->rb && !(c->rb = rblock_get())) {
		conn_close(c);
		return;
	}
	if (!c->out.p) { /* an output buffer with the block, if it came with one */
		c->out = c->rb->out;
		c->rb->out = (struct buf){0};
	}
	size_t room = c->rb->cap - c->rlen;
	if (!room) { /* the head limit is checked in conn_advance; this is a body in place */
		conn_advance(c);
		return;
	}
	ssize_t n = recv(c->fd, c->rb->data + c->rlen, room, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->rlen += (size_t)n;
	if (c->state == CONN_BODY) {
		c->body_received += (uint64_t)n;
		conn_set_deadline(c, DL_IDLE);
	}
	conn_advance(c);
}

/* Refuses a connection over a cap with a short 503; it never enters the loop. */
static void conn_refuse(int fd, const char *why)
{
	static const char body[] = "{\"detail\":\"Too many connections\"}";
	char resp[512];
	int n = snprintf(resp, sizeof resp,
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n%s\r\n%s",
			 sizeof body - 1, HTTP_SECURITY_HEADERS, body);
	ssize_t w = send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	close(fd);
	MT.refused++;
	log_msg(LOG_WARN, "connection refused: %s", why);
}

static void peer_string(const struct sockaddr_in6 *sa, char out[INET6_ADDRSTRLEN])
{
	if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr))
		inet_ntop(AF_INET, &sa->sin6_addr.s6_addr[12], out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, &sa->sin6_addr, out, INET6_ADDRSTRLEN);
}

static void loop_accept(void)
{
	for (int k = 0; k < LOOP_ACCEPTS_PER_WAKE; k++) { /* the listener is level-triggered */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(L.listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && L.reserve_fd >= 0) {
				/* out of descriptors: use the reserve to accept and shed one */
				close(L.reserve_fd);
				fd = accept4(L.listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					conn_refuse(fd, "out of file descriptors");
				L.reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
				continue;
			}
			return;
		}
		struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
		if (ss.ss_family == AF_INET) { /* HOST given as an IPv4 address */
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
			sa6.sin6_addr.s6_addr[10] = sa6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sa6.sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		} else {
			memcpy(&sa6, &ss, sizeof sa6);
		}
		if (L.n_conns >= cfg.max_connections) {
			conn_refuse(fd, "MAX_CONNECTIONS reached");
			continue;
		}
		struct in6_addr key = sa6.sin6_addr;
		if (!IN6_IS_ADDR_V4MAPPED(&key) && !cfg.trust_proxy)
			memset(key.s6_addr + 8, 0, 8); /* a client counts as its /64 (proxies do not) */
		struct iptab_entry *e = iptab_find(&key);
		/* behind a trusted proxy the peer is the proxy: all clients share its address */
		if (!cfg.trust_proxy && e->count >= (uint32_t)cfg.max_connections_per_ip) {
			conn_refuse(fd, "MAX_CONNECTIONS_PER_IP reached");
			continue;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		c->ip_key = key;
		e->addr = key;
		e->count++;
		peer_string(&sa6, c->peer);
		c->next = L.conns;
		if (L.conns)
			L.conns->prev = c;
		L.conns = c;
		L.n_conns++;
		c->state = CONN_HEAD;
		conn_set_deadline(c, DL_FRESH); /* a silent connection is not a keep-alive one */
		conn_watch(c, EPOLLIN);
	}
}

/* Enforces every connection timer; runs every tick. */
static void loop_sweep(int64_t now)
{
	atomic_store_explicit(&MT_ALL.in_flight, L.n_busy, memory_order_relaxed);
	for (struct conn *c = L.conns, *next; c; c = next) {
		next = c->next;
		if (!c->deadline || now < c->deadline)
			continue;
		if (c->dl_kind == DL_HEAD || c->dl_kind == DL_IDLE) {
			if (c->state == CONN_HEAD) /* forget a half-parsed head before logging */
				memset(&c->rb->req, 0, sizeof c->rb->req);
			conn_fail(c, 408, http_status_detail(408));
			conn_advance(c);
		} else {
			conn_close(c); /* idle keep-alive, or a client that does not read */
		}
	}
}

/* Picks up responses that workers finished. */
static void loop_collect_jobs(void)
{
	uint64_t n;
	ssize_t r = read(L.event_fd, &n, sizeof n);
	(void)r;
	pthread_mutex_lock(&L.mu);
	struct conn *done = L.done_head;
	L.done_head = NULL;
	pthread_mutex_unlock(&L.mu);
	while (done) {
		struct conn *c = done;
		done = c->next_job;
		L.n_busy--;
		conn_respond(c);
		conn_advance(c);
	}
}

static int loop_listen(char *err, size_t errlen)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	if (inet_pton(AF_INET6, cfg.host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg.port);
		sl = sizeof *s6;
	} else if (inet_pton(AF_INET, cfg.host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg.port);
		sl = sizeof *s4;
	} else {
		snprintf(err, errlen, "HOST must be an IPv4 or IPv6 address, not %s", cfg.host);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;
	if (fd < 0)
		goto out_error;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* dual-stack */
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, SOMAXCONN))
		goto out_close;
	L.listen_fd = fd;
	return 0;
out_close:
	close(fd);
out_error:
	snprintf(err, errlen, "cannot listen on [%s]:%lld: %s", cfg.host, cfg.port, strerror(errno));
	return -1;
}

static int loop_port(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(L.listen_fd, (struct sockaddr *)&ss, &sl);
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
}

/* ==== 9. Worker pool, stages and the bcrypt threads ================================ */

static void route_run(struct conn *c);
static void db_end_stage(struct ctx *c);
static void out_handle_free(void);

/* Appends to a queue of connections linked through next_job; L.mu is held. */
static void queue_push(struct conn **head, struct conn **tail, struct conn *c)
{
	c->next_job = NULL;
	if (*tail)
		(*tail)->next_job = c;
	else
		*head = c;
	*tail = c;
}

static struct conn *queue_pop(struct conn **head, struct conn **tail)
{
	struct conn *c = *head;
	if (c) {
		*head = c->next_job;
		if (!*head)
			*tail = NULL;
	}
	return c;
}

/*
 * Side pools take a stage off the workers: bcrypt (CPU, as many threads as cores) and
 * outbound (network waits on Cloudinary). A request never holds a database connection in a
 * side pool, and a slow side stage never occupies a worker that database requests need.
 * Each pool's queue is bounded: past it the request answers 503 with Retry-After.
 */
struct side_pool {
	const char *name;
	struct conn *head, *tail; /* under L.mu */
	pthread_cond_t cv;
	atomic_long slots; /* stages queued or running */
	long long max;
};

static struct side_pool SIDE_BCRYPT = {.name = "bcrypt", .cv = PTHREAD_COND_INITIALIZER};
static struct side_pool SIDE_OUTBOUND = {.name = "outbound", .cv = PTHREAD_COND_INITIALIZER};

/*
 * Fair shares of the bcrypt queue: no client address and no account may have more than
 * BCRYPT_SHARE_MAX hashes queued or running, so one caller's flood of wrong passwords leaves
 * room for everyone else's logins. Counters sit in a fixed table indexed by a hash with a
 * per-process random key (a collision only makes two callers share one counter).
 */
enum { SHARE_SLOTS = 4096 };

static struct {
	pthread_mutex_t mu;
	uint64_t key;
	uint32_t held[SHARE_SLOTS];
} SHARES = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint32_t share_slot(const char *who)
{
	uint64_t h = SHARES.key ^ 14695981039346656037ull; /* FNV-1a, keyed */
	for (const unsigned char *p = (const unsigned char *)who; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (uint32_t)(h ^ h >> 32) & (SHARE_SLOTS - 1);
}

/* Takes one hash of the shares of `addr` and `account`; false when either has no room. */
static bool share_take(uint32_t s[2], const char *addr, const char *account)
{
	pthread_mutex_lock(&SHARES.mu);
	s[0] = share_slot(addr);
	s[1] = share_slot(account);
	uint32_t max = (uint32_t)cfg.bcrypt_share_max;
	bool ok = SHARES.held[s[0]] < max && SHARES.held[s[1]] < max;
	if (ok) {
		SHARES.held[s[0]]++;
		SHARES.held[s[1]] += s[1] != s[0];
	}
	pthread_mutex_unlock(&SHARES.mu);
	return ok;
}

static void share_give(const uint32_t s[2])
{
	pthread_mutex_lock(&SHARES.mu);
	SHARES.held[s[0]]--;
	SHARES.held[s[1]] -= s[1] != s[0];
	pthread_mutex_unlock(&SHARES.mu);
}

/* Asks for `fn` to run in `pool`, then `next` on a worker; -1 with the 503 written when full. */
static int side_request(struct ctx *c, struct side_pool *pool, void (*fn)(struct ctx *),
			void (*next)(struct ctx *))
{
	if (atomic_fetch_add(&pool->slots, 1) >= pool->max) {
		atomic_fetch_sub(&pool->slots, 1);
		resp_detail(c, 503, "Server busy, please try again");
		resp_header(c, "Retry-After", "1");
		return -1;
	}
	c->side = fn;
	c->side_pool = pool;
	c->next = next;
	return 0;
}

/* Back to the workers' queue, for the stage in `next`. */
static void worker_requeue(struct conn *c)
{
	pthread_mutex_lock(&L.mu);
	c->rb->ctx.t_queued = now_ms();
	queue_push(&L.work_head, &L.work_tail, c);
	L.n_work++;
	pthread_cond_signal(&L.work_cv);
	pthread_mutex_unlock(&L.mu);
}

/*
 * A worker runs one stage of a request at a time. When the stage asked for a side pool,
 * the request moves there (its database connection already given back) and returns to this
 * queue for its next stage; otherwise the response goes to the loop.
 */
static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&L.mu);
		while (!L.work_head && !L.stopping)
			pthread_cond_wait(&L.work_cv, &L.mu);
		struct conn *c = queue_pop(&L.work_head, &L.work_tail);
		if (!c) {
			pthread_mutex_unlock(&L.mu);
			return NULL;
		}
		L.n_work--;
		pthread_mutex_unlock(&L.mu);

		route_run(c); /* may block on the database, never on bcrypt or the network */
		struct ctx *x = &c->rb->ctx;
		db_end_stage(x);

		pthread_mutex_lock(&L.mu);
		if (x->side) {
			queue_push(&x->side_pool->head, &x->side_pool->tail, c);
			pthread_cond_signal(&x->side_pool->cv);
			pthread_mutex_unlock(&L.mu);
			continue;
		}
		bool wake = !L.done_head; /* the loop takes the whole list at once: wake it once */
		c->next_job = L.done_head;
		L.done_head = c;
		pthread_mutex_unlock(&L.mu);
		uint64_t one = 1;
		if (wake && write(L.event_fd, &one, sizeof one) < 0)
			log_msg(LOG_ERROR, "eventfd write failed: %s", strerror(errno));
	}
}

static void *side_main(void *arg)
{
	struct side_pool *pool = arg;
	/*
	 * A hash keeps a core busy for a quarter of a second or more: at a lower priority than
	 * the event loop, the workers and PostgreSQL on the same machine, so logins queue behind
	 * reads rather than reads behind logins. Uncontended, the hash runs as fast as ever.
	 */
	if (pool == &SIDE_BCRYPT && setpriority(PRIO_PROCESS, (id_t)gettid(), BCRYPT_NICE))
		log_msg(LOG_DEBUG, "bcrypt thread priority unchanged: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&L.mu);
		while (!pool->head && !L.stopping)
			pthread_cond_wait(&pool->cv, &L.mu);
		struct conn *c = queue_pop(&pool->head, &pool->tail);
		pthread_mutex_unlock(&L.mu);
		if (!c) {
			out_handle_free();
			return NULL;
		}
		struct ctx *x = &c->rb->ctx;
		void (*fn)(struct ctx *) = x->side;
		x->side = NULL;
		fn(x);
		db_end_stage(x);
		if (pool == &SIDE_BCRYPT)
			share_give(x->bcrypt.shares);
		atomic_fetch_sub(&pool->slots, 1);
		worker_requeue(c);
	}
}

/* Parks the connection on the work queue; a full queue answers 503 at once. */
static void worker_enqueue(struct conn *c)
{
	pthread_mutex_lock(&L.mu);
	if (L.n_work >= JOB_QUEUE_MAX) {
		pthread_mutex_unlock(&L.mu);
		resp_detail(&c->rb->ctx, 503, "Server busy");
		resp_header(&c->rb->ctx, "Retry-After", "1");
		conn_respond(c);
		return;
	}
	c->rb->ctx.t_queued = now_ms();
	queue_push(&L.work_head, &L.work_tail, c);
	L.n_work++;
	L.n_busy++;
	pthread_cond_signal(&L.work_cv);
	pthread_mutex_unlock(&L.mu);
	/* the socket stays registered: most jobs end before it has anything to say (see loop_run) */
}

/* ==== 10. PostgreSQL pool, probe and migrations ==================================== */

/*
 * At most DB_POOL_SIZE connections, opened lazily and kept. Once the schema is current, a
 * connection has every statement prepared, all in one round trip (pg_prepare_all); before
 * that, and behind PgBouncer (DB_PREPARED_STATEMENTS=0), statements go unnamed. Queries are
 * sent asynchronously and waited for with poll() or the loop's epoll, so a query past
 * DB_QUERY_TIMEOUT_MS is given up from the client side (no SET, no session state).
 */
enum { DB_STEPS_MAX = 12 }; /* statements in one pipeline (struct db_step) */

struct pg {
	PGconn *conn;
	bool named; /* every statement of PG_STATEMENTS is prepared on it */
	struct pg *next;
	/* while the event loop waits on it for a read (loop_read_start), all the loop's: */
	struct conn *reader;
	PGresult *res[1 + DB_STEPS_MAX]; /* the session row, then each statement's result */
	int n_res;
	int64_t deadline;
	bool in_epoll; /* its socket is in the loop's epoll set (one-shot, re-armed per read) */
	bool broken;   /* a pipeline left it in a state no one can use: closed when given back */
	bool cancel;   /* a query on it timed out: cancelled, then closed, when given back */
	struct pg *next_read;
};

enum pg_err { PG_OK = 0, PG_UNAVAILABLE = -1, PG_TIMEOUT = -2, PG_FAILED = -3 };

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pg *idle;
	int n_open, n_waiting;
	int n_unnamed; /* open links without their prepared statements (pg_name_idle) */
	/*
	 * Waiting for a connection is first come, first served between workers and the loop's
	 * reads: every waiter takes the next ticket; `waiters` lists the workers' in ticket order,
	 * `loop_ticket` is the ticket of the oldest waiting loop read (0: none).
	 */
	uint64_t next_ticket, loop_ticket;
	struct pg_waiter *waiters, *waiters_tail;
	int64_t down_until; /* after a failed connect, acquirers fail fast until then */
	atomic_llong last_ok_ms;
	atomic_bool tables_ok, migrations_ok, connect_failing;
	atomic_bool loop_waiting; /* loop reads wait for a connection: pg_release wakes the loop */
	atomic_long errors;
	/* the probe and maintenance threads wait on probe_cv until their next turn or the stop */
	pthread_cond_t probe_cv;
	bool probe_stop, probe_kick; /* probe_kick: the schema just became current */
	bool maint_kick;             /* a link opened that could not be named */
	bool indexes_ok;             /* maintenance thread only */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .probe_cv = PTHREAD_COND_INITIALIZER};

/*
 * Every prepared statement, by id. The SQL lives next to the handler that runs it; the table
 * that names them all is filled in beside the route table.
 */
enum pg_stmt {
	Q_PROBE,
	Q_USER_SESSION,
	Q_USER_TOUCH,
	Q_SESSION_NEW,
	Q_SESSION_END,
	Q_SESSIONS_END_ALL,
	Q_RATE_HIT,
	Q_AUDIT,
	Q_USERNAME_TAKEN,
	Q_EMAIL_TAKEN,
	Q_XACT_LOCK,
	Q_USER_INSERT,
	Q_SETTINGS_INSERT,
	Q_LOGIN_USER,
	Q_LOGIN_FAILED,
	Q_LOGIN_OK,
	Q_PHONE_TAKEN,
	Q_CODE_REPLACE,
	Q_CODE_DELETE,
	Q_CODE_TRY,
	Q_CODE_UNTRY,
	Q_USERS_BY_EMAIL,
	Q_SET_PASSWORD,
	Q_USER_HASH,
	Q_USERNAME_TAKEN_BY_OTHER,
	Q_USERNAME_SET,
	Q_UNLOCK,
	Q_DEVICE_SAVE,
	Q_DEVICES_LIST,
	Q_DEVICE_GET,
	Q_DEVICE_DELETE,
	Q_PROFILE_GET,
	Q_PROFILE_SAVE,
	Q_PHONE_TAKEN_BY_OTHER,
	Q_EMAIL_TAKEN_BY_OTHER,
	Q_SETTINGS_GET,
	Q_SETTINGS_PUT,
	Q_ZONES_LIST,
	Q_ZONE_INSERT,
	Q_ZONE_OWNER,
	Q_ZONE_DELETE,
	Q_PINS_LIST,
	Q_PIN_ADD,
	Q_PIN_DELETE,
	Q_USER_DELETE,
	Q_API_LOG,
	Q_DIAG_COLUMNS,
	Q_DIAG_PROFILE,
	Q_DIAG_ACTIVITY,
	Q_DIAG_USER,
	Q_PHOTO_GET,
	Q_PHOTO_SET,
	Q_ADMIN_STATS,
	Q_ADMIN_USERS,
	Q_AUDIT_CLEANUP,
	Q_CLEAR_ALL,
	Q_FLEET,
	Q_FLEET_HISTORY,
	Q_COUNT
};

struct pg_statement {
	const char *name, *sql;
};

static const struct pg_statement PG_STATEMENTS[Q_COUNT];

static const char SQL_PROBE[] = "SELECT to_regclass('public.users') IS NOT NULL"
				"   AND to_regclass('public.devices') IS NOT NULL"
				"   AND to_regclass('public.audit_logs') IS NOT NULL";

static void timespec_at(struct timespec *ts, int64_t mono_deadline_ms)
{
	int64_t ms = mono_deadline_ms;
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

/* Waits for the socket until the monotonic deadline; 1 ready, 0 timed out, -1 error. */
/*
 * The probe's and the maintenance thread's waits on PostgreSQL also end when shutdown writes
 * this eventfd (maint_cut): set for those threads only, and no thread touches another's socket.
 */
static _Thread_local int pg_poll_cut = -1;

static int pg_poll(PGconn *conn, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd[2] = {{.fd = PQsocket(conn), .events = events},
					{.fd = pg_poll_cut, .events = POLLIN}}; /* -1: ignored */
		int r = poll(pfd, 2, (int)(left > INT_MAX ? INT_MAX : left));
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 || pfd[1].revents ? -1 : r;
	}
}

/* Server notices (such as "already exists, skipping") go to the debug log, not stderr. */
static void pg_notice(void *arg, const char *message)
{
	(void)arg;
	char msg[300];
	snprintf(msg, sizeof msg, "%s", message);
	msg[strcspn(msg, "\n")] = 0;
	log_msg(LOG_DEBUG, "database notice: %s", msg);
}

/* Warns when the database goes away, not on every retry while it is away. */
static void pg_connect_failed(const char *why)
{
	log_msg(atomic_exchange(&P.connect_failing, true) ? LOG_DEBUG : LOG_WARN,
		"database connect failed: %s", why);
}

/*
 * Host names, resolved within the connect's deadline. libpq resolves DATABASE_URL's host with a
 * blocking getaddrinfo() before its own connect_timeout starts: a name server that does not
 * answer held a request, or shutdown, for as long as the resolver kept trying. A single host
 * name (not an address, IPv6 with a zone among them, a socket directory or a list; no hostaddr
 * or service, in the URL or as PGHOSTADDR/PGSERVICE) is looked up on a thread of its own instead, and libpq
 * is given its addresses (hostaddr, the name kept as host for TLS); when the deadline passes first the thread
 * is left to finish alone.
 */
enum { DNS_MAX_ADDRS = 8 };
static char DB_HOST_NAME[256]; /* empty: libpq resolves, as it would (pg_connect's once) */

static void db_host_name_init(void)
{
	PQconninfoOption *opts = PQconninfoParse(cfg.database_url, NULL);
	const char *host = NULL, *hostaddr = NULL, *service = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
		else if (!strcmp(o->keyword, "service"))
			service = o->val;
	}
	unsigned char addr[16];
	const char *env_addr = getenv("PGHOSTADDR"), *env_service = getenv("PGSERVICE");
	if (host && *host && !(hostaddr && *hostaddr) && !(service && *service) && !(env_addr && *env_addr) &&
	    !(env_service && *env_service) && strlen(host) < sizeof DB_HOST_NAME && !strpbrk(host, ",/@:") &&
	    inet_pton(AF_INET, host, addr) != 1)
		snprintf(DB_HOST_NAME, sizeof DB_HOST_NAME, "%s", host);
	PQconninfoFree(opts);
}

struct dns_job {
	atomic_int refs; /* the askers', the resolver's, DNS_RUNNING's: the last one frees */
	int fd;          /* eventfd: written once when done, never read, so every asker sees it */
	int n;           /* addresses found; -1: none */
	char addr[DNS_MAX_ADDRS][INET6_ADDRSTRLEN];
};

static void dns_job_put(struct dns_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		close(j->fd);
		free(j);
	}
}

/* Which of the addresses a connect tries first: the next one after a connect timed out (libpq
   moves on from an address that refuses, but only our deadline ends one that answers nothing,
   so the one after it was never tried). */
static atomic_uint dns_first;

/* The lookup in flight, which every connect that starts meanwhile waits for: one thread at most
   however many connects time out while a name server is silent. */
static pthread_mutex_t DNS_MU = PTHREAD_MUTEX_INITIALIZER;
static struct dns_job *DNS_RUNNING;

static void *dns_resolve(void *arg)
{
	struct dns_job *j = arg;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	j->n = getaddrinfo(DB_HOST_NAME, NULL, &hints, &res) ? -1 : 0;
	for (struct addrinfo *ai = res; ai && j->n < DNS_MAX_ADDRS; ai = ai->ai_next) {
		const void *in = ai->ai_family == AF_INET
					 ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
					 : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    inet_ntop(ai->ai_family, in, j->addr[j->n], sizeof j->addr[j->n]))
			j->n++;
	}
	if (res)
		freeaddrinfo(res);
	if (!j->n)
		j->n = -1;
	pthread_mutex_lock(&DNS_MU);
	eventfd_write(j->fd, 1);
	bool running = DNS_RUNNING == j;
	if (running)
		DNS_RUNNING = NULL;
	pthread_mutex_unlock(&DNS_MU);
	if (running)
		dns_job_put(j);
	dns_job_put(j);
	return NULL;
}

/*
 * DB_HOST_NAME's addresses as libpq's host and hostaddr lists, by the monotonic deadline: 1
 * found, 0 nothing to resolve (libpq does), -1 failed or timed out (logged as a connect failure).
 */
static int dns_lookup(int64_t deadline, struct dns_job **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, db_host_name_init);
	*out = NULL;
	if (!DB_HOST_NAME[0])
		return 0;
	pthread_mutex_lock(&DNS_MU);
	struct dns_job *j = DNS_RUNNING;
	if (j) {
		atomic_fetch_add(&j->refs, 1);
	} else if ((j = calloc(1, sizeof *j)) && (j->fd = eventfd(0, EFD_CLOEXEC)) >= 0) {
		atomic_init(&j->refs, 3);
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, dns_resolve, j)) {
			close(j->fd);
			free(j);
			j = NULL;
		} else {
			DNS_RUNNING = j;
		}
		pthread_attr_destroy(&attr);
	} else {
		free(j);
		j = NULL;
	}
	pthread_mutex_unlock(&DNS_MU);
	if (!j)
		return 0; /* out of resources: libpq resolves, as before */
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd[2] = {{.fd = j->fd, .events = POLLIN},
					{.fd = pg_poll_cut, .events = POLLIN}};
		int r = left <= 0 ? 0 : poll(pfd, 2, (int)(left > INT_MAX ? INT_MAX : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && pfd[0].revents && j->n > 0) {
			*out = j;
			return 1;
		}
		pg_connect_failed(r > 0 && pfd[0].revents ? "the database's host name was not found"
				  : r == 0                ? "timed out resolving the database's host name"
							  : "cut off resolving the database's host name");
		dns_job_put(j);
		return -1;
	}
}

/* `app` names the connection in pg_stat_activity unless DATABASE_URL names it. */
static PGconn *pg_connect(int64_t deadline, const char *app)
{
	struct dns_job *dns;
	if (dns_lookup(deadline, &dns) < 0)
		return NULL;
	/* the addresses from the one that comes first now (dns_first), each with the name */
	char hosts[DNS_MAX_ADDRS * sizeof DB_HOST_NAME], addrs[DNS_MAX_ADDRS * INET6_ADDRSTRLEN];
	unsigned seen = atomic_load(&dns_first), first = dns ? seen % (unsigned)dns->n : 0;
	for (int i = 0, h = 0, a = 0; dns && i < dns->n; i++) {
		h += snprintf(hosts + h, sizeof hosts - (size_t)h, "%s%s", i ? "," : "", DB_HOST_NAME);
		a += snprintf(addrs + a, sizeof addrs - (size_t)a, "%s%s", i ? "," : "",
			      dns->addr[(first + (unsigned)i) % (unsigned)dns->n]);
	}
	bool several = dns && dns->n > 1;
	char timeout[24];
	long long secs = (cfg.db_connect_timeout_ms + 999) / 1000;
	snprintf(timeout, sizeof timeout, "%lld", secs < 2 ? 2 : secs);
	/* our defaults first: the expanded DATABASE_URL that follows overrides any of them */
	const char *keys[] = {"connect_timeout",
			      "keepalives",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "application_name",
			      "client_encoding",
			      "dbname",
			      "host",
			      "hostaddr",
			      NULL};
	const char *vals[] = {timeout,          "1",   "30",  "10", "3", app, "UTF8",
			      cfg.database_url, hosts, addrs, NULL};
	if (!dns)
		keys[8] = NULL; /* the URL's own host */
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	if (dns)
		dns_job_put(dns);
	if (!conn)
		return NULL;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
		if (pg_poll(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline) <= 0) {
			if (several) /* an address that answers nothing: the next connect starts after it
					(once, however many connects started there) */
				atomic_compare_exchange_strong(&dns_first, &seen, seen + 1);
			pg_connect_failed("timed out");
			PQfinish(conn);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		/* libpq's text names hosts and users: the log may have it, a client never */
		char msg[300];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = 0;
		pg_connect_failed(msg);
		PQfinish(conn);
		return NULL;
	}
	if (atomic_exchange(&P.connect_failing, false))
		log_msg(LOG_INFO, "database connection restored");
	/* an adopted SQL_ASCII database may hold any bytes: take them raw (the JSON writer makes
	   them valid UTF-8) rather than fail every query that reads one */
	const char *enc = PQparameterStatus(conn, "server_encoding");
	if (enc && !strcmp(enc, "SQL_ASCII"))
		PQsetClientEncoding(conn, "SQL_ASCII");
	PQsetnonblocking(conn, 1);
	PQsetNoticeProcessor(conn, pg_notice, NULL);
	return conn;
}

struct pg_waiter {
	uint64_t ticket;
	struct pg_waiter *prev, *next;
};

/* P.mu held: takes a worker's waiter out of P.waiters, if it is in. */
static void pg_waiter_leave(struct pg_waiter *w)
{
	if (!w->ticket)
		return;
	*(w->prev ? &w->prev->next : &P.waiters) = w->next;
	*(w->next ? &w->next->prev : &P.waiters_tail) = w->prev;
	w->ticket = 0;
}

/*
 * An idle link has nothing to say: one whose socket is readable was closed by the server (a
 * restart, a terminated backend) or is otherwise not fit to lend. P.mu held: it is closed.
 */
static bool pg_idle_gone(struct pg *pg)
{
	struct pollfd pfd = {.fd = PQsocket(pg->conn), .events = POLLIN};
	if (poll(&pfd, 1, 0) == 0)
		return false;
	PQfinish(pg->conn); /* a closed socket: nothing to wait for */
	P.n_unnamed -= !pg->named;
	free(pg);
	P.n_open--;
	pthread_cond_signal(&P.cv); /* a worker waiting for room may open one now */
	return true;
}

static void pg_prepare_all(struct pg *pg);

/* A statement the schema refuses turned naming off for good (pg_prepare_all). */
static atomic_bool pg_naming_failed;

/*
 * Borrows a connection until `deadline`. `probe` callers (start-up and the probe thread)
 * ignore the fail-fast window, so they are the ones that find the database back.
 */
static int pg_acquire(int64_t deadline, bool probe, struct pg **out)
{
	struct pg_waiter me = {0};
	pthread_mutex_lock(&P.mu);
	for (;;) {
		/* an idle connection, unless a loop read has waited longer (the loop takes it) */
		if (P.idle && !(P.loop_ticket && (!me.ticket || P.loop_ticket < me.ticket))) {
			struct pg *pg = P.idle;
			P.idle = pg->next;
			if (pg_idle_gone(pg))
				continue;
			pg_waiter_leave(&me);
			*out = pg;
			pthread_mutex_unlock(&P.mu);
			return PG_OK;
		}
		if (!probe && now_ms() < P.down_until) {
			pg_waiter_leave(&me);
			pthread_mutex_unlock(&P.mu);
			return PG_UNAVAILABLE;
		}
		if (P.n_open < cfg.db_pool_size) {
			P.n_open++;
			pg_waiter_leave(&me);
			pthread_mutex_unlock(&P.mu);
			int64_t dl = now_ms() + cfg.db_connect_timeout_ms;
			PGconn *conn = pg_connect(dl < deadline ? dl : deadline, "droplin");
			struct pg *pg = conn ? calloc(1, sizeof *pg) : NULL;
			pthread_mutex_lock(&P.mu);
			if (!pg) {
				if (conn)
					PQfinish(conn);
				P.n_open--;
				P.down_until = now_ms() + PG_DOWN_BACKOFF_MS;
				pthread_cond_signal(&P.cv);
				pthread_mutex_unlock(&P.mu);
				atomic_fetch_add(&P.errors, 1);
				return PG_UNAVAILABLE;
			}
			pg->conn = conn;
			P.n_unnamed++;
			pthread_mutex_unlock(&P.mu);
			pg_prepare_all(pg); /* before its first use */
			pthread_mutex_lock(&P.mu);
			if (pg->named) {
				P.n_unnamed--;
			} else if (cfg.db_prepared_statements && atomic_load(&P.migrations_ok) &&
				   !atomic_load(&pg_naming_failed)) { /* a lock held elsewhere: named later */
				P.maint_kick = true;
				pthread_cond_broadcast(&P.probe_cv);
			}
			pthread_mutex_unlock(&P.mu);
			*out = pg;
			return PG_OK;
		}
		if (!me.ticket) { /* in line, after everyone already waiting */
			me.ticket = ++P.next_ticket;
			me.prev = P.waiters_tail;
			*(P.waiters_tail ? &P.waiters_tail->next : &P.waiters) = &me;
			P.waiters_tail = &me;
		}
		struct timespec ts;
		timespec_at(&ts, deadline);
		P.n_waiting++;
		int rc = pthread_cond_timedwait(&P.cv, &P.mu, &ts);
		P.n_waiting--;
		if (rc == ETIMEDOUT) {
			pg_waiter_leave(&me);
			pthread_mutex_unlock(&P.mu);
			return PG_TIMEOUT;
		}
	}
}

/* Returns a connection; a broken one is closed so the next acquirer opens a fresh one. */
static void pg_cancel_and_close(PGconn *conn);

static void pg_release(struct pg *pg, bool broken)
{
	if (!broken && !pg->broken && PQstatus(pg->conn) == CONNECTION_OK &&
	    PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
		atomic_store(&P.last_ok_ms, now_ms());
		pthread_mutex_lock(&P.mu);
		pg->next = P.idle;
		P.idle = pg;
	} else {
		if (pg->cancel)
			pg_cancel_and_close(pg->conn);
		else
			PQfinish(pg->conn);
		bool named = pg->named;
		free(pg);
		pthread_mutex_lock(&P.mu);
		P.n_open--;
		P.n_unnamed -= !named;
	}
	/* with a loop read in line, a woken worker may not be the one whose turn it is: wake all */
	if (P.loop_ticket)
		pthread_cond_broadcast(&P.cv);
	else
		pthread_cond_signal(&P.cv);
	pthread_mutex_unlock(&P.mu);
	uint64_t one = 1;
	if (atomic_load(&P.loop_waiting) && write(L.event_fd, &one, sizeof one) < 0)
		log_msg(LOG_ERROR, "eventfd write failed: %s", strerror(errno));
}

/*
 * Closes `conn`, whose query timed out, after asking the server to stop that query, from a
 * thread of its own: libpq 15's PQcancel opens a new connection with no timeout and waits for
 * the server to close it, which takes minutes while the server is unreachable, and nothing that
 * serves requests may wait for that. The link closes only after the cancel, which a pooler
 * (PgBouncer) forwards only while the client it names is still connected. Past PG_CANCELS_MAX
 * in flight the link just closes: that ends the query when the server next writes to it.
 */
static atomic_int pg_cancels;

/*
 * Sends a cancel request and frees it, on a thread of its own, counted in pg_cancels until the
 * server has closed the request's connection: shutdown waits for that (stop_threads), because
 * PgBouncer 1.18 exits on a FATAL error when a cancel's client goes before its request is done.
 */
static void *pg_cancel_send(void *cancel)
{
	char err[256];
	if (cancel)
		PQcancel(cancel, err, sizeof err);
	PQfreeCancel(cancel);
	atomic_fetch_sub(&pg_cancels, 1);
	return NULL;
}

static void *pg_cancel_main(void *arg)
{
	PGconn *conn = arg;
	pg_cancel_send(PQgetCancel(conn));
	PQfinish(conn);
	return NULL;
}

static bool thread_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
	bool ok = !pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ok;
}

static void pg_cancel_and_close(PGconn *conn)
{
	log_msg(LOG_WARN, "query cancelled after DB_QUERY_TIMEOUT_MS");
	if (atomic_fetch_add(&pg_cancels, 1) >= PG_CANCELS_MAX || !thread_detached(pg_cancel_main, conn)) {
		atomic_fetch_sub(&pg_cancels, 1);
		PQfinish(conn);
	}
}

/* Waits for the whole result of what was sent; cancels it past the deadline. */
static int pg_wait(struct pg *pg, int64_t deadline, PGresult **out)
{
	PGconn *conn = pg->conn;
	while (PQflush(conn) == 1)
		if (pg_poll(conn, POLLOUT | POLLIN, deadline) <= 0)
			return PG_TIMEOUT;
	for (;;) { /* a query was just sent: wait for the socket before trying to read */
		if (!PQisBusy(conn))
			break;
		int r = pg_poll(conn, POLLIN, deadline);
		if (r < 0)
			return PG_UNAVAILABLE;
		if (r == 0) { /* cancelled and closed when given back: nothing waits for either */
			pg->cancel = pg->broken = true;
			return PG_TIMEOUT;
		}
		if (!PQconsumeInput(conn))
			return PG_UNAVAILABLE;
	}
	PGresult *res, *last = NULL;
	while ((res = PQgetResult(conn))) { /* keep the last result, or the first error */
		if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
	}
	*out = last;
	if (!last)
		return PQstatus(conn) == CONNECTION_OK ? PG_FAILED : PG_UNAVAILABLE;
	ExecStatusType st = PQresultStatus(last);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		if (PQstatus(conn) != CONNECTION_OK)
			return PG_UNAVAILABLE;
		return PG_FAILED; /* caller reads the SQLSTATE and clears */
	}
	return PG_OK;
}

static void pg_log_error(const char *what, PGresult *res, PGconn *conn)
{
	char msg[300];
	snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = 0;
	log_msg(LOG_ERROR, "%.80s: %s", what, msg); /* an unnamed statement is named by its start */
	atomic_fetch_add(&P.errors, 1);
}

/*
 * Pipelines: statements that do not need each other's results go out together, ended by one
 * sync, so a write transaction (BEGIN, a lock, the change, COMMIT) costs one round trip, not
 * one per statement. Each statement still takes its own snapshot, so a change that follows a
 * lock sees what the lock's last holder committed. An error aborts every statement after it
 * up to the sync (PGRES_PIPELINE_ABORTED); a transaction it opened is left failed for
 * db_end_stage to roll back.
 */
struct db_step {
	enum pg_stmt q;  /* a statement of PG_STATEMENTS, unless */
	const char *sql; /* an unnamed one is given instead: BEGIN, COMMIT, SAVEPOINT... */
	bool quiet;      /* its failure is for the caller to judge and log (maintenance) */
	int n;
	const char *const *params;
	PGresult *res; /* its result, for the caller to read and db_steps_clear to free */
};

/*
 * Moves what libpq has of a pipeline's results into res[] in order, up to the sync: 1 once the
 * sync is in, 0 while more must arrive, -1 when more than `max` results come (not ours).
 */
static int pg_pipeline_take(PGconn *pc, PGresult **res, int *n, int max)
{
	for (int guard = 0; guard < 2 * max + 2; guard++) {
		if (PQisBusy(pc))
			return 0;
		PGresult *r = PQgetResult(pc);
		if (!r)
			continue; /* the end of one statement's results */
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			return 1;
		}
		if (*n == max) {
			PQclear(r);
			return -1;
		}
		res[(*n)++] = r;
	}
	return -1;
}

/* A worker's wait for a pipeline's results, up to its sync or the deadline. */
static int pg_pipeline_wait(PGconn *pc, int64_t deadline, PGresult **res, int *n, int max)
{
	for (;;) {
		int f;
		while ((f = PQflush(pc)) == 1)
			if (pg_poll(pc, POLLOUT | POLLIN, deadline) <= 0 || !PQconsumeInput(pc))
				return PG_TIMEOUT;
		if (f < 0)
			return PG_UNAVAILABLE;
		int t = pg_pipeline_take(pc, res, n, max);
		if (t)
			return t > 0 ? PG_OK : PG_UNAVAILABLE;
		int r = pg_poll(pc, POLLIN, deadline);
		if (r <= 0)
			return r < 0 ? PG_UNAVAILABLE : PG_TIMEOUT;
		if (!PQconsumeInput(pc))
			return PG_UNAVAILABLE;
	}
}

/* A step's result went through (a COMMIT that came back as ROLLBACK did not). */
static bool pg_step_ok(const struct db_step *s, const PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		return false;
	return !(s->sql && !strcmp(s->sql, "COMMIT") && strcmp(PQcmdStatus((PGresult *)r), "COMMIT"));
}

/* Queues one step: by name on a link that has them all prepared, else unnamed. */
static bool pg_send_step(struct pg *pg, const struct db_step *s)
{
	const struct pg_statement *st = s->sql ? NULL : &PG_STATEMENTS[s->q];
	if (st && pg->named)
		return PQsendQueryPrepared(pg->conn, st->name, s->n, s->params, NULL, NULL, 0);
	return PQsendQueryParams(pg->conn, st ? st->sql : s->sql, s->n, NULL, s->params, NULL, NULL, 0);
}

/*
 * An error that says the link itself is no good: a connection exception (class 08), the server
 * shutting down or not accepting work (57P01-57P03), or a read-only transaction (25006: a
 * former primary, still reachable after a failover). The link is dropped and the request gets
 * 503; a fresh connection finds the database as it is now.
 */
static bool pg_link_unfit(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return code && (!strncmp(code, "08", 2) || !strcmp(code, "57P01") || !strcmp(code, "57P02") ||
			!strcmp(code, "57P03") || !strcmp(code, "25006"));
}

/*
 * The one judge of a pipeline's results, on workers and on the loop alike: res[i] is step i's
 * result (`got` of them arrived). PG_OK when each step went through; a result that is missing
 * is a failure by construction (PG_UNAVAILABLE), an error PG_FAILED with *failed its step.
 */
static int pg_judge(PGconn *pc, bool broken, const struct db_step *s, int n, PGresult *const *res, int got,
		    int *failed)
{
	*failed = -1;
	for (int i = 0; i < n; i++) {
		PGresult *r = i < got ? res[i] : NULL;
		if (broken || !r || PQstatus(pc) != CONNECTION_OK)
			return PG_UNAVAILABLE;
		if (!pg_step_ok(&s[i], r)) {
			if (!s[i].quiet)
				pg_log_error(s[i].sql ? s[i].sql : PG_STATEMENTS[s[i].q].name, r, pc);
			*failed = i;
			return pg_link_unfit(r) ? PG_UNAVAILABLE : PG_FAILED;
		}
	}
	return PG_OK;
}

/*
 * Runs the steps in one pipeline, waiting at most `timeout_ms`. On PG_FAILED, *failed is the
 * step that failed (its error logged); a COMMIT that came back as ROLLBACK is a failure too.
 * Each step's result is left in s[i].res (db_steps_clear). The link is dropped after a timeout
 * (the cancelled pipeline's tail is not worth waiting for) or a protocol surprise.
 */
static int pg_steps(struct pg *pg, struct db_step *s, int n, int *failed, int64_t timeout_ms)
{
	PGconn *pc = pg->conn;
	*failed = -1;
	for (int i = 0; i < n; i++)
		s[i].res = NULL;
	if (pg->broken || n > DB_STEPS_MAX || !PQenterPipelineMode(pc))
		return PG_UNAVAILABLE;
	for (int i = 0; i < n; i++)
		if (!pg_send_step(pg, &s[i])) {
			pg->broken = true;
			return PG_UNAVAILABLE;
		}
	PGresult *res[DB_STEPS_MAX];
	int got = 0;
	int rc = PQpipelineSync(pc) ? pg_pipeline_wait(pc, now_ms() + timeout_ms, res, &got, n)
				    : PG_UNAVAILABLE;
	if (rc == PG_TIMEOUT)
		pg->cancel = true;
	if (rc || !PQexitPipelineMode(pc)) {
		pg->broken = true;
		for (int k = 0; k < got; k++)
			PQclear(res[k]);
		return rc ? rc : PG_UNAVAILABLE;
	}
	for (int i = 0; i < got; i++)
		s[i].res = res[i];
	rc = pg_judge(pc, pg->broken, s, n, res, got, failed);
	pg->broken |= rc == PG_UNAVAILABLE;
	return rc;
}

/* One statement as a pipeline of one; *out is its result (also an error's), the caller's to clear. */
static int pg_one(struct pg *pg, struct db_step s, int64_t timeout_ms, PGresult **out)
{
	int failed, rc = pg_steps(pg, &s, 1, &failed, timeout_ms);
	*out = s.res;
	return rc;
}

/* An unnamed statement with no parameters (maintenance). */
static int pg_exec_simple(struct pg *pg, const char *sql, int64_t timeout_ms, PGresult **res)
{
	return pg_one(pg, (struct db_step){.sql = sql, .quiet = true}, timeout_ms, res);
}

/*
 * Prepares every statement on a link, in one pipeline, inside a transaction that waits at most
 * PG_NAMING_LOCK_TIMEOUT_MS for any table's lock: preparing needs every table at once, so a
 * lock anyone holds on one (a VACUUM FULL, a waiting ALTER TABLE) must not hold up a request,
 * nor the maintenance thread, for long. A link that could not be named serves all the same,
 * with unnamed statements, until the maintenance thread names it on a later pass. A statement the schema
 * refuses (class 42: an adopted database that lacks what it needs) turns naming off for good, logged once.
 */
static void pg_prepare_all(struct pg *pg)
{
	if (!cfg.db_prepared_statements || pg->named || !atomic_load(&P.migrations_ok) ||
	    atomic_load(&pg_naming_failed))
		return;
	PGconn *pc = pg->conn;
	char set[64];
	snprintf(set, sizeof set, "SET LOCAL lock_timeout = %d", PG_NAMING_LOCK_TIMEOUT_MS);
	/* what an earlier, interrupted try left is dropped first: a name cannot be taken twice */
	const char *around[] = {"DEALLOCATE ALL", "BEGIN", set};
	enum { AROUND = 3, N = AROUND + Q_COUNT + 1 };
	PGresult *res[N];
	int got = 0, rc = PQenterPipelineMode(pc) ? PG_OK : PG_UNAVAILABLE;
	for (int i = 0; i < AROUND && !rc; i++)
		if (!PQsendQueryParams(pc, around[i], 0, NULL, NULL, NULL, NULL, 0))
			rc = PG_UNAVAILABLE;
	for (int q = 0; q < Q_COUNT && !rc; q++)
		if (!PQsendPrepare(pc, PG_STATEMENTS[q].name, PG_STATEMENTS[q].sql, 0, NULL))
			rc = PG_UNAVAILABLE;
	if (!rc && !PQsendQueryParams(pc, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
		rc = PG_UNAVAILABLE;
	if (!rc)
		rc = PQpipelineSync(pc)
			     ? pg_pipeline_wait(pc, now_ms() + cfg.db_query_timeout_ms, res, &got, N)
			     : PG_UNAVAILABLE;
	pg->cancel |= rc == PG_TIMEOUT;
	pg->broken |= rc || !PQexitPipelineMode(pc);
	bool named = !pg->broken && got == N && !strcmp(PQcmdStatus(res[N - 1]), "COMMIT");
	for (int i = 0; i < got; i++) {
		const char *code = PQresultErrorField(res[i], PG_DIAG_SQLSTATE);
		if (code && !strncmp(code, "42", 2) && i >= AROUND && i < AROUND + Q_COUNT &&
		    !atomic_exchange(&pg_naming_failed, true)) {
			pg_log_error(PG_STATEMENTS[i - AROUND].name, res[i], pc);
			log_msg(LOG_WARN, "a statement cannot be prepared: all go unnamed from now on");
		}
		named &= PQresultStatus(res[i]) == PGRES_COMMAND_OK;
		PQclear(res[i]);
	}
	if (!pg->broken && PQtransactionStatus(pc) == PQTRANS_INERROR) { /* a lock it did not get */
		PGresult *r;
		pg->broken = pg_exec_simple(pg, "ROLLBACK", cfg.db_query_timeout_ms, &r) != PG_OK;
		PQclear(r);
	}
	pg->broken |= PQtransactionStatus(pc) != PQTRANS_IDLE;
	pg->named = named;
}

static bool maint_stopping(void);

/* Names the idle links that are not named yet, one at a time; true while any link is not. */
static bool pg_name_idle(void)
{
	for (int k = 0; k < cfg.db_pool_size && cfg.db_prepared_statements && atomic_load(&P.migrations_ok) &&
			!atomic_load(&pg_naming_failed) && !maint_stopping();
	     k++) {
		pthread_mutex_lock(&P.mu);
		struct pg **at = &P.idle;
		while (*at && (*at)->named)
			at = &(*at)->next;
		struct pg *pg = *at;
		if (pg)
			*at = pg->next;
		pthread_mutex_unlock(&P.mu);
		if (!pg)
			break;
		pg_prepare_all(pg);
		if (pg->named) {
			pthread_mutex_lock(&P.mu);
			P.n_unnamed--;
			pthread_mutex_unlock(&P.mu);
		}
		pg_release(pg, pg->broken);
	}
	pthread_mutex_lock(&P.mu);
	bool left = P.n_unnamed > 0;
	pthread_mutex_unlock(&P.mu);
	return left && cfg.db_prepared_statements && !atomic_load(&pg_naming_failed);
}

static void db_steps_clear(struct db_step *s, int n)
{
	for (int i = 0; i < n; i++) {
		PQclear(s[i].res);
		s[i].res = NULL;
	}
}

/* --- The handlers' side: queries on the request's borrowed connection --- */

/*
 * Runs a statement for a handler, borrowing a pooled connection on first use (it is given
 * back when the stage ends). On failure the response is written (503 Database unavailable,
 * or 500 with the cause logged) and -1 returned; on success *res is the caller's to clear.
 */
static int db_steps_rc(struct ctx *c, struct db_step *s, int n, int *failed);

static int db_query_rc(struct ctx *c, enum pg_stmt id, int n, const char *const *params, PGresult **res)
{
	struct db_step s = {.q = id, .n = n, .params = params};
	int failed, rc = db_steps_rc(c, &s, 1, &failed);
	*res = s.res;
	return rc;
}

/*
 * 500 for a statement that failed, 503 when the database could not answer. Before this
 * replica's migrations are done, a failure is most likely a table that is not there yet (a
 * fresh database, another replica holding the migration lock): 503, as /ready says.
 */
static void resp_db_error(struct ctx *c, int rc)
{
	if (rc == PG_FAILED && atomic_load(&P.migrations_ok))
		resp_internal_error(c, "database query failed");
	else
		resp_detail(c, 503, "Database unavailable");
}

static int db_query(struct ctx *c, enum pg_stmt id, int n, const char *const *params, PGresult **res)
{
	int rc = db_query_rc(c, id, n, params, res);
	if (rc)
		resp_db_error(c, rc);
	return rc ? -1 : 0;
}

/* Statement `id` on one id, its first column's integer into *out (0 with no row); as db_query. */
static int db_int(struct ctx *c, enum pg_stmt id, const char *param, long long *out)
{
	PGresult *res;
	const char *p[] = {param};
	if (db_query(c, id, 1, p, &res))
		return -1;
	*out = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	return 0;
}

/*
 * An ad-hoc parameterised statement (unnamed, planned for its actual parameters): for the
 * few queries whose SQL is assembled from fixed fragments, such as the audit-log filters.
 */
static int db_query_sql(struct ctx *c, const char *sql, int n, const char *const *params, PGresult **res)
{
	struct db_step s = {.sql = sql, .n = n, .params = params};
	int failed, rc = db_steps_rc(c, &s, 1, &failed);
	*res = s.res;
	if (rc)
		resp_db_error(c, rc);
	return rc ? -1 : 0;
}

/* The same without writing a response: for work whose failure must not fail the request. */
static int db_query_quiet(struct ctx *c, enum pg_stmt id, int n, const char *const *params, PGresult **res)
{
	return db_query_rc(c, id, n, params, res) ? -1 : 0;
}

/* BEGIN, COMMIT, SAVEPOINT...: unnamed statements (no prepared name, PgBouncer-friendly). */
static int db_exec_rc(struct ctx *c, const char *sql)
{
	struct db_step s = {.sql = sql};
	int failed, rc = db_steps_rc(c, &s, 1, &failed);
	db_steps_clear(&s, 1);
	return rc;
}

static int db_exec(struct ctx *c, const char *sql)
{
	int rc = db_exec_rc(c, sql);
	if (rc)
		resp_db_error(c, rc);
	return rc ? -1 : 0;
}

/*
 * The steps in one round trip, on the request's borrowed connection. On failure every result
 * is freed; *failed says which step failed (PG_FAILED). db_steps also writes the response.
 */
static int db_steps_rc(struct ctx *c, struct db_step *s, int n, int *failed)
{
	*failed = -1;
	for (int i = 0; i < n; i++)
		s[i].res = NULL;
	int rc = c->pg ? PG_OK : pg_acquire(c->t_queued + cfg.db_acquire_timeout_ms, false, &c->pg);
	if (!rc)
		rc = pg_steps(c->pg, s, n, failed, cfg.db_query_timeout_ms);
	if (rc)
		db_steps_clear(s, n);
	return rc;
}

static int db_steps(struct ctx *c, struct db_step *s, int n)
{
	int failed, rc = db_steps_rc(c, s, n, &failed);
	if (rc)
		resp_db_error(c, rc);
	return rc ? -1 : 0;
}

/*
 * pg_advisory_xact_lock on "<kind>:<value>", for uniqueness without UNIQUE indexes (DECISIONS
 * P). The key is built at its full length, so a long multi-byte value is never cut.
 */
static const char **xact_lock_params(struct ctx *c, const char *kind, const char *value)
{
	size_t n = strlen(kind) + strlen(value) + 2;
	char *key = arena_alloc(&c->arena, n);
	const char **p = arena_alloc(&c->arena, sizeof *p);
	if (!key || !p) {
		resp_internal_error(c, "out of memory");
		return NULL;
	}
	snprintf(key, n, "%s:%s", kind, value);
	*p = key;
	return p;
}

static int db_xact_lock(struct ctx *c, const char *kind, const char *value)
{
	const char **p = xact_lock_params(c, kind, value);
	PGresult *res;
	if (!p || db_query(c, Q_XACT_LOCK, 1, p, &res))
		return -1;
	PQclear(res);
	return 0;
}

/* The same lock as a step of a pipeline; -1 with the response written when out of memory. */
static int xact_lock_step(struct ctx *c, struct db_step *s, const char *kind, const char *value)
{
	const char **p = xact_lock_params(c, kind, value);
	if (!p)
		return -1;
	*s = (struct db_step){.q = Q_XACT_LOCK, .n = 1, .params = p};
	return 0;
}

/* Ends a stage: an open transaction is rolled back, the connection goes back to the pool. */
static void db_end_stage(struct ctx *c)
{
	if (!c->pg)
		return;
	bool broken = c->pg->broken || PQstatus(c->pg->conn) != CONNECTION_OK;
	if (!broken && PQtransactionStatus(c->pg->conn) != PQTRANS_IDLE) {
		PGresult *res;
		broken = pg_exec_simple(c->pg, "ROLLBACK", cfg.db_query_timeout_ms, &res) != PG_OK;
		PQclear(res);
	}
	pg_release(c->pg, broken);
	c->pg = NULL;
}

/* A simple-protocol script (several statements, one implicit transaction). */
static int pg_script(struct pg *pg, const char *sql, int64_t timeout_ms, PGresult **out)
{
	*out = NULL;
	if (!PQsendQuery(pg->conn, sql))
		return PG_UNAVAILABLE;
	int rc = pg_wait(pg, now_ms() + timeout_ms, out);
	if (rc == PG_FAILED)
		pg_log_error("script", *out, pg->conn);
	return rc;
}

/* --- Migrations (DECISIONS R2, C3) --- */

/*
 * Numbered and append-only. Each runs once, recorded in schema_migrations, under an advisory
 * lock so that replicas booting together apply it exactly once. Changes are additive only,
 * so the original backend and older droplin binaries keep working on the same database.
 * Tables the original created are created IF NOT EXISTS, so an original database is adopted
 * as it is. New timestamp defaults are UTC whatever the session's time zone.
 */
struct migration {
	int version;
	const char *name, *sql;
};

static const char MIGRATION_1[] =
	"CREATE TABLE IF NOT EXISTS users ("
	"  id SERIAL PRIMARY KEY,"
	"  username TEXT UNIQUE NOT NULL,"
	"  password_hash TEXT NOT NULL,"
	"  email TEXT,"
	"  created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),"
	"  failed_login_attempts INTEGER DEFAULT 0,"
	"  locked_until TEXT,"
	"  key_version INTEGER DEFAULT 1);"
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS failed_login_attempts INTEGER DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS locked_until TEXT;"
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS key_version INTEGER DEFAULT 1;"
	"CREATE TABLE IF NOT EXISTS devices ("
	"  id SERIAL PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  rssi INTEGER NOT NULL,"
	"  distance_feet DOUBLE PRECISION NOT NULL,"
	"  action TEXT,"
	"  timestamp TEXT,"
	"  phone_number TEXT,"
	"  email TEXT,"
	"  bio TEXT,"
	"  social_media TEXT,"
	"  user_id INTEGER DEFAULT 1);"
	"CREATE TABLE IF NOT EXISTS user_profiles ("
	"  user_id INTEGER PRIMARY KEY,"
	"  name TEXT, phone TEXT, email TEXT, bio TEXT, social_media TEXT, profile_photo TEXT,"
	"  has_completed_onboarding INTEGER DEFAULT 0);"
	"ALTER TABLE user_profiles ADD COLUMN IF NOT EXISTS has_completed_onboarding INTEGER DEFAULT 0;"
	"CREATE TABLE IF NOT EXISTS user_settings ("
	"  user_id INTEGER PRIMARY KEY,"
	"  dark_mode INTEGER DEFAULT 0,"
	"  max_distance INTEGER DEFAULT 50);"
	"CREATE TABLE IF NOT EXISTS privacy_zones ("
	"  id SERIAL PRIMARY KEY,"
	"  user_id INTEGER NOT NULL,"
	"  address TEXT NOT NULL,"
	"  radius DOUBLE PRECISION NOT NULL);"
	"CREATE TABLE IF NOT EXISTS pinned_contacts ("
	"  user_id INTEGER NOT NULL,"
	"  device_id INTEGER NOT NULL,"
	"  PRIMARY KEY (user_id, device_id));"
	"CREATE TABLE IF NOT EXISTS audit_logs ("
	"  id SERIAL PRIMARY KEY,"
	"  user_id INTEGER,"
	"  action TEXT NOT NULL,"
	"  details TEXT,"
	"  ip_address TEXT,"
	"  user_agent TEXT,"
	"  timestamp TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'));"
	"CREATE TABLE IF NOT EXISTS verification_codes ("
	"  id SERIAL PRIMARY KEY,"
	"  email TEXT NOT NULL,"
	"  code TEXT NOT NULL,"
	"  code_type TEXT NOT NULL,"
	"  expires_at TEXT NOT NULL,"
	"  created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'));"
	"CREATE TABLE IF NOT EXISTS api_call_logs ("
	"  id SERIAL PRIMARY KEY,"
	"  timestamp TIMESTAMP,"
	"  endpoint TEXT,"
	"  method TEXT,"
	"  user_id INTEGER,"
	"  success BOOLEAN,"
	"  status_code INTEGER,"
	"  error TEXT);";

/* droplin's additions for accounts: sessions across replicas, codes' tries, rate limits. */
static const char MIGRATION_2[] =
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS last_seen_at TIMESTAMPTZ;"
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS password_changed_at TIMESTAMPTZ;"
	"ALTER TABLE verification_codes ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE IF NOT EXISTS rate_limits ("
	"  key TEXT NOT NULL,"
	"  window_start BIGINT NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (key, window_start));"
	"CREATE INDEX IF NOT EXISTS verification_codes_email_type ON verification_codes (email, code_type)";

/*
 * One row per login: a token's `sid` claim names its session, whose last activity, and whether
 * it was logged out, are its own. Tokens without one (the original backend's) keep the per-user
 * rule of users.last_seen_at, and legacy_tokens_revoked_at ends them all at once.
 */
static const char MIGRATION_3[] =
	"CREATE TABLE IF NOT EXISTS sessions ("
	"  sid TEXT PRIMARY KEY,"
	"  user_id INTEGER NOT NULL,"
	"  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
	"  last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
	"  revoked_at TIMESTAMPTZ,"
	"  remember_me BOOLEAN NOT NULL DEFAULT false);"
	"CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);"
	"ALTER TABLE users ADD COLUMN IF NOT EXISTS legacy_tokens_revoked_at TIMESTAMPTZ";

/*
 * Every replica's heartbeat (HEARTBEAT_SECONDS): a row per beat, its counters cumulative since
 * the replica started, so rates and percentiles come from the difference of two rows. A replica
 * is its name and start time (a restarted one starts its counters again). Retention keeps an hour.
 */
static const char MIGRATION_4[] =
	"CREATE TABLE IF NOT EXISTS replica_heartbeats ("
	"  replica TEXT NOT NULL,"
	"  started_at TIMESTAMPTZ NOT NULL,"
	"  at TIMESTAMPTZ NOT NULL DEFAULT now(),"
	"  region TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  interval_ms INTEGER NOT NULL,"
	"  ready BOOLEAN NOT NULL,"
	"  draining BOOLEAN NOT NULL,"
	"  in_flight INTEGER NOT NULL,"
	"  pool_in_use INTEGER NOT NULL,"
	"  pool_size INTEGER NOT NULL,"
	"  requests BIGINT NOT NULL,"
	"  errors BIGINT NOT NULL,"
	"  buckets BIGINT[] NOT NULL,"
	"  PRIMARY KEY (replica, started_at, at));"
	"CREATE INDEX IF NOT EXISTS replica_heartbeats_at ON replica_heartbeats (at)";

static const struct migration MIGRATIONS[] = {
	{1, "original schema", MIGRATION_1},
	{2, "accounts: sessions, code attempts, rate limits", MIGRATION_2},
	{3, "sessions per login", MIGRATION_3},
	{4, "replica heartbeats", MIGRATION_4},
};

static bool migration_applied(PGresult *res, int version)
{
	for (int i = 0; i < PQntuples(res); i++)
		if (atoi(PQgetvalue(res, i, 0)) == version)
			return true;
	return false;
}

/*
 * The advisory lock key is 0x64726f70, "drop". Transaction-scoped, each migration in a
 * transaction of its own that takes it: behind PgBouncer in transaction mode a session lock
 * would stay with whichever server connection took it (and its unlock could reach another),
 * while a transaction keeps one server connection until COMMIT. One transaction for all of
 * them would hold the first one's table locks (users) while a later one waits for another
 * table, and every read of users, the original backend's too, would queue behind it.
 */
static const char SQL_MIGRATIONS_TABLE[] = "BEGIN;SELECT pg_advisory_xact_lock(1684172656);"
					   "CREATE TABLE IF NOT EXISTS schema_migrations ("
					   "  version INTEGER PRIMARY KEY,"
					   "  name TEXT NOT NULL,"
					   "  applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
					   "SELECT version FROM schema_migrations ORDER BY version";

static int pg_disable_seeded_account(struct pg *pg);

/*
 * Maintenance (migrations, index builds, retention) runs on a thread and a connection of its
 * own: a statement that waits on a lock there holds no pooled connection and delays no probe,
 * so /health and /ready keep telling the truth. The connection is kept between passes while
 * work is pending (a migration to retry, an index another replica builds), closed when none is.
 * The heartbeat has a thread and a connection of its own in the same way, kept between beats,
 * so that a maintenance statement that waits (an index build may take an hour) never silences
 * it and the replica never looks gone while it serves.
 */
struct side_link {
	const char *app;  /* its application_name, so pg_stat_activity tells them apart */
	struct pg *link;  /* kept for the next pass */
	PGcancel *cancel; /* the link in use's cancel, under P.mu (maint_stop) */
};
static struct side_link MAINT = {"droplin-maintenance"}, BEAT = {"droplin-heartbeat"};
static int db_cut_fd = -1; /* pg_poll_cut of the probe, maintenance and heartbeat threads */

/* True once shutdown began: maintenance starts nothing more. */
static bool maint_stopping(void)
{
	pthread_mutex_lock(&P.mu);
	bool stop = P.probe_stop;
	pthread_mutex_unlock(&P.mu);
	return stop;
}

static int maint_open(struct side_link *s, struct pg **out)
{
	if (maint_stopping())
		return PG_UNAVAILABLE;
	if (!(*out = s->link)) {
		PGconn *conn = pg_connect(now_ms() + cfg.db_connect_timeout_ms, s->app);
		*out = conn ? calloc(1, sizeof **out) : NULL;
		if (!*out) {
			if (conn)
				PQfinish(conn);
			return PG_UNAVAILABLE;
		}
		(*out)->conn = conn;
	}
	s->link = NULL;
	PGcancel *cancel = PQgetCancel((*out)->conn);
	pthread_mutex_lock(&P.mu);
	bool stop = P.probe_stop; /* shutdown began while it connected: nothing to start */
	if (!stop)
		s->cancel = cancel;
	pthread_mutex_unlock(&P.mu);
	if (stop) {
		PQfreeCancel(cancel);
		PQfinish((*out)->conn);
		free(*out);
		return PG_UNAVAILABLE;
	}
	return PG_OK;
}

/*
 * At shutdown (P.probe_stop set, under P.mu): a maintenance statement may wait minutes on a
 * lock or build an index for as long. A cancel request ends it in PostgreSQL too, so it holds
 * no lock and commits nothing afterwards (a cancelled concurrent index build leaves an invalid
 * index that the next build drops and makes again); the thread then finds its error and stops.
 * Sent from a thread of its own (PQcancel may block), while the link is still open: a pooler
 * forwards a cancel only for a client that is still connected.
 */
static void maint_stop(void)
{
	struct side_link *both[] = {&MAINT, &BEAT};
	for (int i = 0; i < 2; i++) {
		PGcancel *cancel = both[i]->cancel;
		both[i]->cancel = NULL;
		if (!cancel)
			continue;
		atomic_fetch_add(&pg_cancels, 1);
		if (!thread_detached(pg_cancel_send, cancel)) {
			atomic_fetch_sub(&pg_cancels, 1);
			PQfreeCancel(cancel);
		}
	}
}

/* When the cancel did not end it in time (a server that does not answer): the waits of the
   maintenance thread and of the probe end, and each closes its link itself. */
static void maint_cut(void)
{
	uint64_t one = 1;
	if (write(db_cut_fd, &one, sizeof one) < 0)
		log_msg(LOG_ERROR, "eventfd write failed: %s", strerror(errno));
}

/* Keeps the link for the next pass, unless `broken`: closing the session also drops any
   advisory lock it still holds. */
static void maint_close(struct side_link *s, struct pg *pg, bool broken)
{
	pthread_mutex_lock(&P.mu);
	PGcancel *cancel = s->cancel; /* NULL when maint_stop took it */
	s->cancel = NULL;
	pthread_mutex_unlock(&P.mu);
	PQfreeCancel(cancel);
	if (!broken && !pg->broken && PQstatus(pg->conn) == CONNECTION_OK &&
	    PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
		s->link = pg;
		return;
	}
	if (pg->cancel)
		pg_cancel_and_close(pg->conn);
	else
		PQfinish(pg->conn);
	free(pg);
}

/* Closes the link kept for the next pass: nothing to do for a while, no idle backend either. */
static void maint_drop(struct side_link *s)
{
	if (s->link) {
		PQfinish(s->link->conn);
		free(s->link);
		s->link = NULL;
	}
}

/* Applies what is missing; 0 when the schema is current. Releases the lock in every case. */
static int pg_migrate(void)
{
	struct pg *pg;
	PGresult *res = NULL;
	int64_t t0 = now_ms();
	if (maint_open(&MAINT, &pg))
		return -1;
	int rc = pg_script(pg, SQL_MIGRATIONS_TABLE, PG_MIGRATION_TIMEOUT_MS, &res);
	int applied = 0;
	for (size_t i = 0; !rc && i < sizeof MIGRATIONS / sizeof MIGRATIONS[0]; i++) {
		const struct migration *m = &MIGRATIONS[i];
		if (migration_applied(res, m->version))
			continue;
		struct buf sql = {0};
		buf_printf(&sql, "%s;INSERT INTO schema_migrations (version, name) VALUES (%d, '", m->sql,
			   m->version);
		buf_adds(&sql, m->name); /* our own constant, no quotes in it */
		buf_adds(&sql, "')");
		buf_addc(&sql, 0); /* pg_script takes a C string */
		PGresult *mres = NULL;
		rc = sql.over ? PG_FAILED : pg_script(pg, sql.p, PG_MIGRATION_TIMEOUT_MS, &mres);
		PQclear(mres);
		buf_free(&sql);
		if (rc) {
			log_msg(maint_stopping() ? LOG_INFO : LOG_ERROR, "migration %d (%s) %s", m->version,
				m->name, maint_stopping() ? "interrupted by shutdown" : "failed");
			break;
		}
		applied++, log_msg(LOG_INFO, "migration %d (%s) applied", m->version, m->name);
		/* committed on its own, so its locks go before the next waits for any table; the
		   lock is taken again and what is applied read again: another replica may be ahead */
		PQclear(res);
		res = NULL;
		rc = pg_script(pg,
			       "COMMIT;BEGIN;SELECT pg_advisory_xact_lock(1684172656);"
			       "SELECT version FROM schema_migrations ORDER BY version",
			       PG_MIGRATION_TIMEOUT_MS, &res);
	}
	PQclear(res);
	PGresult *ures = NULL;
	/* the lock goes with the transaction; a failed migration is rolled back, to be tried again */
	bool unlocked = !pg_script(pg, rc ? "ROLLBACK" : "COMMIT", PG_MIGRATION_TIMEOUT_MS, &ures);
	PQclear(ures);
	if (!rc && unlocked) /* best effort, outside the lock: its UPDATE is conditional anyway */
		pg_disable_seeded_account(pg);
	maint_close(&MAINT, pg, rc != 0 || !unlocked);
	if (!rc)
		log_msg(LOG_INFO, "schema is current (%d applied, %lld ms)", applied,
			(long long)(now_ms() - t0));
	return rc ? -1 : 0;
}

/*
 * Indexes on tables that may be large in an adopted database are built CONCURRENTLY, outside
 * the migration lock and without blocking writes (DECISIONS P); one replica at a time builds
 * (a try-lock), an interrupted build leaves an invalid index that is dropped and rebuilt.
 */
static const struct {
	const char *name, *create;
} CONCURRENT_INDEXES[] = {
	{"users_lower_username",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_lower_username ON users (lower(username))"},
	{"users_lower_email",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_lower_email ON users (lower(email))"},
	{"devices_user_name",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS devices_user_name ON devices (user_id, name)"},
	{"audit_logs_action_id",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_logs_action_id ON audit_logs (action, id)"},
	{"audit_logs_user_id_id",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_logs_user_id_id ON audit_logs (user_id, id)"},
	{"audit_logs_ip_id",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_logs_ip_id ON audit_logs (ip_address, id)"},
	{"audit_logs_timestamp",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_logs_timestamp ON audit_logs (timestamp)"},
	{"api_call_logs_user_time", "CREATE INDEX CONCURRENTLY IF NOT EXISTS api_call_logs_user_time ON "
				    "api_call_logs (user_id, timestamp)"},
	{"api_call_logs_timestamp",
	 "CREATE INDEX CONCURRENTLY IF NOT EXISTS api_call_logs_timestamp ON api_call_logs (timestamp)"},
};

/* 0 when every index exists and is valid. */
static int pg_build_indexes(void)
{
	struct pg *pg;
	PGresult *res;
	if (maint_open(&MAINT, &pg))
		return -1;
	/* Behind PgBouncer (DB_PREPARED_STATEMENTS=0) no session lock: CREATE INDEX CONCURRENTLY
	   cannot run in a transaction, and two replicas' builds of one table wait for each other
	   on its lock anyway, after which IF NOT EXISTS skips */
	bool locking = cfg.db_prepared_statements, mine = true;
	int rc = 0;
	if (locking) {
		rc = pg_exec_simple(pg, "SELECT pg_try_advisory_lock(1684172658)", PG_MIGRATION_TIMEOUT_MS,
				    &res);
		mine = !rc && PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
	}
	int missing = 0;
	for (size_t i = 0; mine && !rc && i < sizeof CONCURRENT_INDEXES / sizeof CONCURRENT_INDEXES[0]; i++) {
		char check[200];
		snprintf(check, sizeof check,
			 "SELECT i.indisvalid, EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE "
			 "p.index_relid = i.indexrelid) FROM pg_index i WHERE i.indexrelid = "
			 "to_regclass('%s')",
			 CONCURRENT_INDEXES[i].name); /* our own constant names */
		rc = pg_exec_simple(pg, check, PG_MIGRATION_TIMEOUT_MS, &res);
		bool exists = !rc && PQntuples(res) == 1, valid = exists && PQgetvalue(res, 0, 0)[0] == 't';
		bool building = exists && PQgetvalue(res, 0, 1)[0] == 't';
		PQclear(res);
		if (rc || valid)
			continue;
		if (!locking && building) { /* another replica's build: look again later */
			missing++;
			continue;
		}
		int64_t t0 = now_ms();
		if (exists) {
			snprintf(check, sizeof check, "DROP INDEX CONCURRENTLY IF EXISTS %s",
				 CONCURRENT_INDEXES[i].name);
			rc = pg_exec_simple(pg, check, PG_MIGRATION_TIMEOUT_MS, &res);
			if (!rc) { /* a failed DROP's result is the one logged below */
				PQclear(res);
				res = NULL;
			}
		}
		if (!rc)
			rc = pg_exec_simple(pg, CONCURRENT_INDEXES[i].create, INDEX_BUILD_TIMEOUT_MS, &res);
		const char *state = rc == PG_FAILED ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (!locking && state && (!strcmp(state, "40P01") || !strcmp(state, "42P07"))) {
			/* without the lock two replicas' builds can meet; the next round finds it */
			log_msg(LOG_WARN,
				"index %s: built by another replica at the same time; looking again",
				CONCURRENT_INDEXES[i].name);
			PQclear(res);
			rc = 0;
			missing++;
			continue;
		}
		if (rc == PG_FAILED && !maint_stopping()) /* not the cancel of maint_stop */
			pg_log_error("index build", res, pg->conn);
		PQclear(res);
		missing += rc != 0;
		if (!rc)
			log_msg(LOG_INFO, "index %s built in %lld ms", CONCURRENT_INDEXES[i].name,
				(long long)(now_ms() - t0));
	}
	if (locking && mine && !rc) {
		rc = pg_exec_simple(pg, "SELECT pg_advisory_unlock(1684172658)", PG_MIGRATION_TIMEOUT_MS,
				    &res);
		PQclear(res);
	}
	maint_close(&MAINT, pg, rc != 0);
	return mine && !rc && !missing ? 0 : -1;
}

/*
 * Retention (DECISIONS P): whichever replica takes the advisory lock prunes expired codes,
 * rate-limit windows that ended, log rows past their retention and heartbeats older than the
 * fleet's history. Runs on the maintenance thread.
 */
static void pg_retention(void)
{
	struct pg *pg;
	PGresult *res;
	if (maint_open(&MAINT, &pg))
		return;
	/* one transaction and a transaction lock, which also hold behind PgBouncer (pg_migrate) */
	int rc = pg_script(pg, "BEGIN;SELECT pg_try_advisory_xact_lock(1684172659)", PG_MIGRATION_TIMEOUT_MS,
			   &res);
	bool mine = !rc && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	char sql[5][300];
	snprintf(sql[0], sizeof sql[0],
		 "DELETE FROM verification_codes WHERE NOT COALESCE(expires_at ~ '^\\d{4}-\\d{2}-\\d{2}[T ]"
		 "\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?$' AND expires_at::timestamp > now() AT TIME ZONE 'UTC', "
		 "false)");
	snprintf(sql[1], sizeof sql[1],
		 "DELETE FROM audit_logs WHERE timestamp < (now() AT TIME ZONE 'UTC') - interval '%lld days'",
		 cfg.audit_retention_days);
	snprintf(sql[2], sizeof sql[2],
		 "DELETE FROM api_call_logs WHERE timestamp < (now() AT TIME ZONE 'UTC') - interval '%lld "
		 "days'",
		 cfg.api_call_log_retention_days);
	/* a session idle past the longest inactivity timeout is over; a logged-out one after a day */
	long long idle_days = cfg.activity_timeout_minutes / 1440 > cfg.remember_me_timeout_days
				      ? cfg.activity_timeout_minutes / 1440
				      : cfg.remember_me_timeout_days;
	snprintf(sql[3], sizeof sql[3],
		 "DELETE FROM sessions WHERE last_seen_at < now() - interval '%lld days'"
		 " OR revoked_at < now() - interval '1 day'",
		 idle_days + 1);
	snprintf(sql[4], sizeof sql[4],
		 "DELETE FROM replica_heartbeats WHERE at < now() - interval '%d seconds'"
		 " OR at > now() + interval '1 minute'", /* ahead of the clock: no replica's, read by nothing
							  */
		 FLEET_HISTORY_SECONDS + FLEET_SEGMENT_MAX_SECONDS + FLEET_BIN_SECONDS);
	long long pruned = 0;
	for (int i = 0; mine && !rc && i < 6; i++) {
		char windows[200]; /* a window is stale once the longest configured window has passed */
		long long longest = 0;
		const struct rate_rule *rules[] = {&RATE_REGISTER, &RATE_LOGIN,        &RATE_CODE_EMAIL,
						   &RATE_CODE_IP,  &RATE_LOG_API_CALL, &RATE_CHANGE_PASSWORD};
		for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
			longest = rules[k]->window > longest ? rules[k]->window : longest;
		snprintf(windows, sizeof windows,
			 "DELETE FROM rate_limits WHERE window_start < extract(epoch FROM now())::bigint - "
			 "%lld",
			 2 * longest);
		rc = pg_exec_simple(pg, "SAVEPOINT prune", PG_MIGRATION_TIMEOUT_MS, &res);
		PQclear(res);
		if (!rc)
			rc = pg_exec_simple(pg, i < 5 ? sql[i] : windows, INDEX_BUILD_TIMEOUT_MS, &res);
		else
			res = NULL;
		if (!rc) {
			pruned += atoll(PQcmdTuples(res));
		} else if (rc == PG_FAILED && !maint_stopping()) { /* not the cancel of maint_stop */
			pg_log_error("retention", res, pg->conn);
			PQclear(res); /* one table's bad row keeps the others' pruning going */
			rc = pg_exec_simple(pg, "ROLLBACK TO SAVEPOINT prune", PG_MIGRATION_TIMEOUT_MS, &res);
		}
		PQclear(res);
	}
	if (rc != PG_UNAVAILABLE && rc != PG_TIMEOUT) {
		int urc = pg_script(pg, rc || !mine ? "ROLLBACK" : "COMMIT", PG_MIGRATION_TIMEOUT_MS, &res);
		PQclear(res);
		rc = rc ? rc : urc;
		if (mine && !rc)
			log_msg(pruned ? LOG_INFO : LOG_DEBUG, "retention: %lld rows pruned", pruned);
	}
	maint_close(&MAINT, pg, rc != 0);
}

/* Runs the probe query; updates what /health and /ready report. */
static void pg_probe(void)
{
	struct pg *pg;
	PGresult *res = NULL;
	if (pg_acquire(now_ms() + cfg.db_connect_timeout_ms, true, &pg))
		return;
	int rc = pg_one(pg, (struct db_step){.q = Q_PROBE}, cfg.db_query_timeout_ms, &res);
	if (!rc)
		atomic_store(&P.tables_ok, PQgetvalue(res, 0, 0)[0] == 't');
	PQclear(res);
	pg_release(pg, rc == PG_UNAVAILABLE || rc == PG_TIMEOUT);
}

static bool pg_healthy(void)
{
	return now_ms() - atomic_load(&P.last_ok_ms) <= cfg.health_stale_ms && atomic_load(&P.last_ok_ms);
}

/* What /ready reports (DECISIONS R6), from the probe thread's state; the heartbeat writes it too. */
struct readiness {
	bool db, tables, migrated, draining, ready;
};

static struct readiness readiness_now(void)
{
	struct readiness r = {.db = pg_healthy(),
			      .migrated = atomic_load(&P.migrations_ok),
			      .draining = atomic_load(&L.draining)};
	r.tables = r.db && atomic_load(&P.tables_ok);
	r.ready = r.db && r.tables && r.migrated && !r.draining;
	return r;
}

/* The pool as it is: links open, those of them idle, and requests waiting for one. */
static void pg_pool_counts(int *open, int *idle, int *waiting)
{
	pthread_mutex_lock(&P.mu);
	*open = P.n_open, *waiting = P.n_waiting, *idle = 0;
	for (struct pg *pg = P.idle; pg; pg = pg->next)
		(*idle)++;
	pthread_mutex_unlock(&P.mu);
}

/* Sleeps on probe_cv until `until`, the stop, or *kick (taken); true when the thread is to stop. */
static bool probe_sleep(int64_t until, bool *kick)
{
	pthread_mutex_lock(&P.mu);
	if (!P.probe_stop && !(kick && *kick) && until > now_ms()) {
		struct timespec ts;
		timespec_at(&ts, until);
		pthread_cond_timedwait(&P.probe_cv, &P.mu, &ts);
	}
	bool stop = P.probe_stop;
	if (kick)
		*kick = false;
	pthread_mutex_unlock(&P.mu);
	return stop;
}

static void *pg_probe_main(void *arg)
{
	(void)arg;
	pg_poll_cut = db_cut_fd;
	do { /* a recent successful query anywhere counts; otherwise ask the database */
		if (now_ms() - atomic_load(&P.last_ok_ms) >= cfg.db_probe_interval_ms ||
		    !atomic_load(&P.tables_ok))
			pg_probe();
	} while (!probe_sleep(now_ms() + cfg.db_probe_interval_ms, &P.probe_kick));
	return NULL;
}

/* Migrations until they succeed, then the indexes, then retention every interval. */
static void *maint_main(void *arg)
{
	(void)arg;
	pg_poll_cut = db_cut_fd;
	/* the first pruning waits one interval: a deploy is no moment for a burst of deletes */
	int64_t next_retention = now_ms() + cfg.retention_interval_seconds * 1000;
	int64_t next = 0;
	do {
		if (!atomic_load(&P.migrations_ok) && !pg_migrate()) {
			atomic_store(&P.migrations_ok, true);
			pthread_mutex_lock(&P.mu); /* the probe looks at the new tables now */
			P.probe_kick = true;
			pthread_cond_broadcast(&P.probe_cv);
			pthread_mutex_unlock(&P.mu);
		}
		if (atomic_load(&P.migrations_ok) && !P.indexes_ok)
			P.indexes_ok = !pg_build_indexes();
		if (atomic_load(&P.migrations_ok) && now_ms() >= next_retention) {
			pg_retention();
			next_retention = now_ms() + cfg.retention_interval_seconds * 1000;
		}
		bool unnamed = atomic_load(&P.migrations_ok) && pg_name_idle(); /* on pool links */
		bool pending = !atomic_load(&P.migrations_ok) || !P.indexes_ok;
		next = pending || unnamed ? now_ms() + cfg.db_probe_interval_ms : next_retention;
		if (!pending) /* nothing for its connection to do for a while */
			maint_drop(&MAINT);
	} while (!probe_sleep(next, &P.maint_kick));
	return NULL;
}

/* --- Heartbeats: every replica in PostgreSQL, for GET /admin/replicas and the dashboard --- */

/*
 * The start time, with the replica's name its heartbeats' key, is on the database's clock as
 * every `at` is (uptimes and rates mix no clocks): before the first row, the database's now()
 * less this replica's monotonic uptime, asked once by a statement that writes nothing (a reply
 * lost after an INSERT that computed it would leave a run of one row under another key).
 */
static const char SQL_HEARTBEAT_START[] = "SELECT " SQL_ISO("now() - $1::float8 * interval '1 second'");
static const char SQL_HEARTBEAT[] =
	"INSERT INTO replica_heartbeats (replica, started_at, region, version, interval_ms, ready, draining,"
	" in_flight, pool_in_use, pool_size, requests, errors, buckets)"
	" VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
static char heartbeat_started_at[40]; /* the heartbeat thread's */

/* One row: the readiness `r`, the pool, and the counters of every request since the start. */
static void heartbeat(struct readiness r)
{
	struct pg *pg;
	if (maint_open(&BEAT, &pg))
		return;
	int open, idle, waiting;
	pg_pool_counts(&open, &idle, &waiting);
	char buckets[(METRIC_N_BUCKETS + 1) * 21 + 2], num[7][32];
	uint64_t requests = 0;
	size_t n = 0;
	for (int i = 0; i <= METRIC_N_BUCKETS; i++) {
		uint64_t v = atomic_load_explicit(&MT_ALL.buckets[i], memory_order_relaxed);
		requests += v;
		n += (size_t)snprintf(buckets + n, sizeof buckets - n, "%c%" PRIu64, i ? ',' : '{', v);
	}
	snprintf(buckets + n, sizeof buckets - n, "}");
	snprintf(num[1], sizeof num[1], "%lld", llround(cfg.heartbeat_seconds * 1000));
	snprintf(num[2], sizeof num[2], "%d", atomic_load_explicit(&MT_ALL.in_flight, memory_order_relaxed));
	snprintf(num[3], sizeof num[3], "%d", open - idle);
	snprintf(num[4], sizeof num[4], "%lld", cfg.db_pool_size);
	snprintf(num[5], sizeof num[5], "%" PRIu64, requests);
	snprintf(num[6], sizeof num[6], "%" PRIu64,
		 atomic_load_explicit(&MT_ALL.errors, memory_order_relaxed));
	const char *params[] = {log_replica,
				heartbeat_started_at,
				cfg.region,
				DROPLIN_VERSION,
				num[1],
				r.ready ? "t" : "f",
				r.draining ? "t" : "f",
				num[2],
				num[3],
				num[4],
				num[5],
				num[6],
				buckets};
	PGresult *res = NULL;
	int rc = 0;
	if (!heartbeat_started_at[0]) {
		snprintf(num[0], sizeof num[0], "%.3f", (double)(now_ms() - L.started_ms) / 1000);
		const char *uptime[] = {num[0]};
		rc = pg_one(
			pg,
			(struct db_step){.sql = SQL_HEARTBEAT_START, .quiet = true, .n = 1, .params = uptime},
			cfg.db_query_timeout_ms, &res);
		if (!rc && PQntuples(res) == 1)
			snprintf(heartbeat_started_at, sizeof heartbeat_started_at, "%s",
				 PQgetvalue(res, 0, 0));
		if (!rc) {
			PQclear(res);
			res = NULL;
		}
	}
	if (!rc && heartbeat_started_at[0])
		rc = pg_one(pg,
			    (struct db_step){.sql = SQL_HEARTBEAT, .quiet = true, .n = 13, .params = params},
			    cfg.db_query_timeout_ms, &res);
	if (rc == PG_FAILED && !maint_stopping()) /* not the cancel of maint_stop */
		pg_log_error("heartbeat", res, pg->conn);
	PQclear(res);
	maint_close(&BEAT, pg, rc != 0);
}

/*
 * A row every HEARTBEAT_SECONDS once the schema is current (the table is a migration's), and
 * one at once when the replica becomes ready or unready or starts draining, so the fleet sees
 * a drain as it begins. Never on a request's way, never holding a pooled connection.
 */
static void *heartbeat_main(void *arg)
{
	(void)arg;
	pg_poll_cut = db_cut_fd;
	int64_t every = llround(cfg.heartbeat_seconds * 1000), next = 0;
	struct readiness told = {0};
	for (;;) {
		struct readiness r = readiness_now();
		if (atomic_load(&P.migrations_ok) &&
		    (now_ms() >= next || r.ready != told.ready || r.draining != told.draining)) {
			next = now_ms() + every;
			told = r;
			heartbeat(r);
		}
		int64_t look = now_ms() + cfg.db_probe_interval_ms; /* for a change of readiness */
		if (probe_sleep(next > now_ms() && next < look ? next : look, NULL))
			break;
	}
	maint_drop(&BEAT);
	return NULL;
}

/* ==== 11. Passwords, tokens, rate limits and audit ================================= */

/* --- Password rules (ORIGINAL_API 4.2) --- */

static const char *const COMMON_PASSWORDS[] = {
	"password",    "123456",     "12345678",   "qwerty",    "abc123",    "monkey",    "1234567",
	"letmein",     "trustno1",   "dragon",     "baseball",  "iloveyou",  "master",    "sunshine",
	"ashley",      "bailey",     "shadow",     "123123",    "654321",    "superman",  "qazwsx",
	"michael",     "football",   "password1",  "welcome",   "jesus",     "ninja",     "mustang",
	"password123", "admin",      "hello",      "charlie",   "access",    "princess",  "starwars",
	"whatever",    "login",      "passw0rd",   "123456789", "12345",     "1234",      "111111",
	"1234567890",  "000000",     "admin123",   "root",      "pass",      "test",      "guest",
	"password12",  "welcome123", "abc12345",   "qwerty123", "password!", "password@", "password#",
	"letmein123",  "admin1",     "root123",    "test123",   "user",      "demo",      "changeme",
	"temp",        "temppass",   "welcome1",   "hello123",  "sample",    "example",   "default",
	"pass123",     "pass1234",   "mypassword", "secret",    "secret123", "iloveyou1", "iloveyou123",
	"princess1",   "monkey123",  "dragon123",  "football1", "shadow1",   "sunshine1", "master123",
	"superman1",   "baseball1",  "michael1",   "ashley1",   "bailey1",   "charlie1",  "whatever1",
	"starwars1",   "ninja1",     "mustang1",
};

static const char PW_NARROW_SPECIALS[] = "!@#$%^&*,.?\":{}|<>";            /* register */
static const char PW_BROAD_SPECIALS[] = "!@#$%^&*_+-=[]{}; ':\"\\|,.<>/?"; /* change, reset */

struct pw_classes {
	bool upper, lower, digit, special;
};

/* ASCII classes, as register's regexes; \d also takes Unicode digits, which only matter rarely. */
static struct pw_classes pw_ascii_classes(const char *pw)
{
	struct pw_classes k = {0};
	for (const char *p = pw; *p; p++) {
		k.upper |= *p >= 'A' && *p <= 'Z';
		k.lower |= *p >= 'a' && *p <= 'z';
		k.digit |= *p >= '0' && *p <= '9';
		k.special |= strchr(PW_NARROW_SPECIALS, *p) != NULL && *p;
	}
	return k;
}

static bool pw_is_common(const char *pw)
{
	char lower[130];
	if (strlen(pw) >= sizeof lower)
		return false;
	str_lower(strcpy(lower, pw));
	for (size_t i = 0; i < sizeof COMMON_PASSWORDS / sizeof COMMON_PASSWORDS[0]; i++)
		if (!strcmp(lower, COMMON_PASSWORDS[i]))
			return true;
	return false;
}

/* Case-insensitive (ASCII) substring test. */
static bool str_icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return !n;
}

/* The strength score of ORIGINAL_API 4.2, 0 to 100. */
static int pw_strength(const char *pw)
{
	size_t len = utf8_len(pw, strlen(pw));
	struct pw_classes k = pw_ascii_classes(pw);
	int score = 10 * ((len >= 8) + (len >= 12) + (len >= 16));
	int classes = k.lower + k.upper + k.digit + k.special;
	score += 10 * classes;
	score += classes == 4 ? 20 : classes == 3 ? 10 : 0;
	for (const char *p = pw; p[0] && p[1] && p[2]; p++)
		if (p[0] == p[1] && p[1] == p[2]) {
			score -= 10;
			break;
		}
	static const char *const seqs[] = {"012", "123", "234", "345", "456", "567",
					   "678", "789", "890", "abc", "bcd", "cde"};
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
		if (str_icontains(pw, seqs[i])) {
			score -= 10;
			break;
		}
	if (len > 16)
		score += (int)(2 * (len - 16) < 10 ? 2 * (len - 16) : 10);
	return score < 0 ? 0 : score > 100 ? 100 : score;
}

static const char *pw_level(int score)
{
	return score < 40 ? "weak" : score < 60 ? "medium" : score < 80 ? "strong" : "very strong";
}

/* Register's policy: every failure, joined with "; " into out (empty when the password is fine). */
static void pw_register_errors(const char *pw, const char *username, struct buf *out)
{
	struct pw_classes k = pw_ascii_classes(pw);
	const char *errs[8];
	int n = 0;
	if (utf8_len(pw, strlen(pw)) < 8)
		errs[n++] = "Password must be at least 8 characters long";
	if (!k.upper)
		errs[n++] = "Password must contain at least one uppercase letter (A-Z)";
	if (!k.lower)
		errs[n++] = "Password must contain at least one lowercase letter (a-z)";
	if (!k.digit)
		errs[n++] = "Password must contain at least one number (0-9)";
	if (!k.special)
		errs[n++] = "Password must contain at least one special character (!@#$%^&*)";
	if (pw_is_common(pw))
		errs[n++] = "Password is too common. Please choose a more unique password";
	if (username && *username && !strcasecmp(pw, username))
		errs[n++] = "Password cannot be the same as your username";
	else if (username && strlen(username) >= 3 && str_icontains(pw, username))
		errs[n++] = "Password cannot contain your username";
	for (int i = 0; i < n; i++) {
		if (i)
			buf_adds(out, "; ");
		buf_adds(out, errs[i]);
	}
}

/*
 * change-password and reset-password: first failure wins; upper and lower case by Unicode
 * classification (musl's iswupper/iswlower, DECISIONS P), the broad special set.
 */
static const char *pw_change_error(const char *pw)
{
	bool upper = false, lower = false, digit = false, special = false;
	size_t n = strlen(pw);
	for (size_t i = 0; i < n;) { /* musl's wide classes are Unicode's, whatever the locale */
		unsigned cp;
		size_t k = utf8_decode((const unsigned char *)pw + i, n - i, &cp);
		upper |= iswupper(cp) != 0;
		lower |= iswlower(cp) != 0;
		digit |= cp >= '0' && cp <= '9';
		special |= cp < 0x80 && strchr(PW_BROAD_SPECIALS, (int)cp) != NULL;
		i += k;
	}
	if (utf8_len(pw, n) < 8)
		return "Password must be at least 8 characters";
	if (!upper)
		return "Password must contain at least one uppercase letter";
	if (!lower)
		return "Password must contain at least one lowercase letter";
	if (!digit)
		return "Password must contain at least one number";
	if (!special)
		return "Password must contain at least one special character";
	return NULL;
}

/* --- bcrypt through musl's crypt_r, on its own threads --- */

static const char BCRYPT_B64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* "$2b$NN$" and 22 salt characters from 16 CSPRNG bytes, canonical as Python's gensalt(). */
static void bcrypt_new_setting(char out[BCRYPT_SETTING_MAX], int cost)
{
	unsigned char raw[16];
	random_bytes(raw, sizeof raw);
	int o = snprintf(out, BCRYPT_SETTING_MAX, "$2b$%02d$", cost);
	for (size_t i = 0; i < sizeof raw; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (i + 1 < sizeof raw ? (unsigned)raw[i + 1] << 8 : 0) |
			     (i + 2 < sizeof raw ? raw[i + 2] : 0);
		int chars = i + 2 < sizeof raw ? 4 : i + 1 < sizeof raw ? 3 : 2;
		for (int k = 0; k < chars; k++)
			out[o++] = BCRYPT_B64[v >> (18 - 6 * k) & 63];
	}
	out[o] = 0;
}

/*
 * A hash-shaped setting for logins of unknown users: crypt_r spends exactly the work of a
 * real verification (DECISIONS S6), and the result can never match.
 */
static void bcrypt_dummy_setting(char out[BCRYPT_SETTING_MAX])
{
	snprintf(out, BCRYPT_SETTING_MAX, "$2b$%02lld$%s", cfg.bcrypt_cost,
		 "droplinnotauserxxxxxxu.droplinxnotxaxuserxxxxxxxxxxxx");
}

/*
 * Asks for bcrypt work: the request leaves its worker (and database connection) and comes
 * back to `next` on a worker when the hash is done. With `setting` NULL a new hash is made.
 * When the queue is full the 503 of DECISIONS P is written and -1 returned.
 */
static void bcrypt_run(struct ctx *c)
{
	static _Thread_local struct crypt_data data;
	const char *out = crypt_r(c->bcrypt.password, c->bcrypt.setting, &data);
	snprintf(c->bcrypt.result, sizeof c->bcrypt.result, "%s", out && out[0] == '$' ? out : "");
}

static int bcrypt_request(struct ctx *c, const char *account, const char *password, const char *setting,
			  void (*next)(struct ctx *))
{
	c->bcrypt.password = password;
	if (setting)
		snprintf(c->bcrypt.setting, sizeof c->bcrypt.setting, "%s", setting);
	else
		bcrypt_new_setting(c->bcrypt.setting, (int)cfg.bcrypt_cost);
	if (!share_take(c->bcrypt.shares, c->client_key, account)) {
		resp_detail(c, 503, "Server busy, please try again");
		resp_header(c, "Retry-After", "1");
		return -1;
	}
	if (side_request(c, &SIDE_BCRYPT, bcrypt_run, next)) {
		share_give(c->bcrypt.shares);
		return -1;
	}
	return 0;
}

/*
 * The original seeded `test_droplink` / `TestPass123!` in every environment, and both are
 * published. After the migrations of every start (an original replica may have seeded it
 * after the last one), best effort, the account is disabled if that password still opens it:
 * its hash is replaced by a well-formed bcrypt hash that no password matches (the original's
 * bcrypt would fail on a malformed one), earlier tokens die with password_changed_at, and an
 * audit row and a log line say so. A changed password is left alone; the compare-and-set
 * UPDATE makes replicas that start together disable it once.
 */
static const char SEED_PASSWORD[] = "TestPass123!";
#define SEED_USERNAME "test_droplink"
#define SEED_DISABLED "disabledxseedxaccountxbyxdropli" /* 31 digest characters no password yields */

static const char SQL_SEED_FIND[] =
	"SELECT id, password_hash FROM users WHERE lower(username) = '" SEED_USERNAME
	"' AND password_hash LIKE '$2%' AND password_hash NOT LIKE '%" SEED_DISABLED "'";

static const char SQL_SEED_DISABLE[] =
	"WITH d AS (UPDATE users SET password_hash = $3, password_changed_at = now()"
	"            WHERE id = $1::int AND password_hash = $2 RETURNING id)"
	"INSERT INTO audit_logs (user_id, action, details, user_agent)"
	"  SELECT id, 'seeded_account_disabled', '{\"username\": \"" SEED_USERNAME "\"}', 'droplin' FROM d";

/* One row of SQL_SEED_FIND: disabled when the published password opens it. */
static int pg_disable_seed_row(struct pg *pg, const char *id, const char *hash)
{
	struct crypt_data *data = calloc(1, sizeof *data);
	const char *out = data ? crypt_r(SEED_PASSWORD, hash, data) : NULL;
	bool published = out && out[0] == '$' && ct_equal(out, strlen(out), hash, strlen(hash));
	free(data);
	if (!published)
		return 0;
	char unusable[BCRYPT_SETTING_MAX];
	bcrypt_new_setting(unusable, (int)cfg.bcrypt_cost);
	str_copy(unusable + strlen(unusable), sizeof unusable - strlen(unusable), SEED_DISABLED);
	const char *p[] = {id, hash, unusable};
	PGresult *res;
	int rc = pg_one(pg, (struct db_step){.sql = SQL_SEED_DISABLE, .n = 3, .params = p},
			PG_MIGRATION_TIMEOUT_MS, &res);
	if (!rc && !strcmp(PQcmdTuples(res), "1"))
		log_msg(LOG_WARN, "the original's seeded account " SEED_USERNAME
				  " still had its published password: disabled");
	PQclear(res);
	return rc;
}

static int pg_disable_seeded_account(struct pg *pg)
{
	PGresult *res;
	int rc = pg_exec_simple(pg, SQL_SEED_FIND, PG_MIGRATION_TIMEOUT_MS, &res);
	for (int i = 0; !rc && i < PQntuples(res); i++) /* any case of the name: logins fold it */
		rc = pg_disable_seed_row(pg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return rc;
}

/*
 * Between starts (an original replica may seed the account again while both run), a login
 * with the published pair is refused as a wrong password would be.
 */
static bool seed_login(const char *username, const char *password)
{
	return !strcmp(username, SEED_USERNAME) && !strcmp(password, SEED_PASSWORD);
}

/* True when the finished verification matched the stored hash (constant-time compare). */
static bool bcrypt_matched(const struct ctx *c)
{
	size_t n = strlen(c->bcrypt.setting);
	return n > 7 && ct_equal(c->bcrypt.result, strlen(c->bcrypt.result), c->bcrypt.setting, n);
}

/* --- Tokens: HS256 through libjwt on BearSSL (ORIGINAL_API 5, DECISIONS C4, S3) --- */

static double wall_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A token with the original's claims, in the arena; NULL if libjwt fails. The response that
 * carries it must not be kept by any cache on the way.
 */
static char *jwt_issue(struct ctx *c, long long user_id, const char *username, bool remember_me,
		       const char *sid)
{
	double now = c->token_iat ? c->token_iat : wall_time();
	struct buf claims = {0};
	buf_addc(&claims, '{');
	json_kv_int(&claims, "user_id", user_id);
	json_kv_str(&claims, "username", username);
	json_kv_int(&claims, "exp", (long long)now + cfg.access_token_expire_days * 86400);
	json_key(&claims, "iat");
	buf_printf(&claims, "%.6f", now);
	json_key(&claims, "last_activity");
	buf_printf(&claims, "%.6f", now);
	json_kv_bool(&claims, "remember_me", remember_me);
	json_kv_int(&claims, "key_version", cfg.jwt_key_version);
	if (sid && *sid)
		json_kv_str(&claims, "sid", sid);
	buf_addc(&claims, '}');
	buf_addc(&claims, 0);
	jwt_t *jwt = NULL;
	char *token = NULL, *out = NULL;
	if (claims.over || jwt_new(&jwt) || jwt_add_grants_json(jwt, claims.p) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg.jwt_secret,
			(int)strlen(cfg.jwt_secret)))
		goto out;
	token = jwt_encode_str(jwt);
	if (token)
		out = arena_strndup(&c->arena, token, strlen(token));
out:
	jwt_free_str(token);
	jwt_free(jwt);
	buf_free(&claims);
	return out;
}

/*
 * A base64url segment of a token, decoded into the arena and NUL-terminated; NULL when it is
 * not strict base64url (no padding, no stray bits) or longer than a token of ours can be.
 */
static char *jwt_segment(struct ctx *c, const char *s, size_t n, size_t *len)
{
	if (n > JWT_SEGMENT_MAX)
		return NULL;
	unsigned char *out = arena_alloc(&c->arena, n / 4 * 3 + 4);
	ssize_t m = out ? b64url_decode(out, s, n) : -1;
	if (m < 0)
		return NULL;
	out[m] = 0;
	*len = (size_t)m;
	return (char *)out;
}

/*
 * Claims of an HS256 token whose signature checks out with `key`; -1 when it does not.
 * Verified here rather than through libjwt (which issues them): header.payload.signature, the
 * signature HMAC-SHA256 of "header.payload" compared in constant time before anything is
 * parsed, the header a JSON object whose "alg" is exactly "HS256" (no alg none, no HS512
 * games), the payload a JSON object. A tenth of the work of a libjwt and jansson round trip,
 * and this runs on every authenticated request.
 */
static int jwt_claims(struct ctx *c, const char *token, const char *key, struct json *claims)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!key || !*key || !dot2 || strchr(dot2 + 1, '.'))
		return -1;
	unsigned char sig[33], mac[32];
	size_t sn = strlen(dot2 + 1);
	if (sn != 43 || b64url_decode(sig, dot2 + 1, sn) != 32)
		return -1;
	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, key, strlen(key));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, token, (size_t)(dot2 - token));
	br_hmac_out(&hc, mac);
	if (!ct_equal(mac, sizeof mac, sig, sizeof mac))
		return -1;
	size_t hn, pn;
	char *head = jwt_segment(c, token, (size_t)(dot1 - token), &hn);
	char *body = jwt_segment(c, dot1 + 1, (size_t)(dot2 - dot1 - 1), &pn);
	struct json h;
	if (!head || !body || json_parse(&c->arena, head, hn, &h) || json_kind(&h, 0) != JK_OBJECT)
		return -1;
	size_t alg_n;
	int alg = json_get(&h, 0, "alg");
	const char *alg_s =
		alg >= 0 && json_kind(&h, alg) == JK_STRING ? json_string(&h, alg, &c->arena, &alg_n) : NULL;
	if (!alg_s || alg_n != 5 || memcmp(alg_s, "HS256", 5))
		return -1;
	if (json_parse(&c->arena, body, pn, claims) || json_kind(claims, 0) != JK_OBJECT)
		return -1;
	return 0;
}

/*
 * $1 the user, $2 the token's session ("" for none): the last activity that counts (the
 * session's, or the user's for a token without one), the time before which its tokens are
 * invalid, the user name, and whether the session is live.
 */
static const char SQL_USER_SESSION[] =
	"SELECT (extract(epoch FROM CASE WHEN $2 = '' THEN u.last_seen_at ELSE s.last_seen_at END)"
	"        * 1000000)::int8,"
	"       (extract(epoch FROM CASE WHEN $2 = '' THEN GREATEST(u.password_changed_at,"
	"                                                   u.legacy_tokens_revoked_at)"
	"                           ELSE u.password_changed_at END) * 1000000)::int8,"
	"       u.username, $2 = '' OR (s.sid IS NOT NULL AND s.revoked_at IS NULL)"
	"  FROM users u LEFT JOIN sessions s ON s.sid = $2 AND s.user_id = u.id"
	" WHERE u.id = $1::int";

/*
 * The activity of $1's session $3 ("" for a token without one) and of the user, at most every
 * $2 s: replicas of an older release, and the original backend, judge by the user's.
 */
static const char SQL_USER_TOUCH[] =
	"WITH u AS (UPDATE users SET last_seen_at = now()" /* older replicas read it for every token */
	"            WHERE id = $1::int"
	"              AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => $2::int)))"
	"UPDATE sessions SET last_seen_at = now()"
	" WHERE $3 <> '' AND sid = $3 AND last_seen_at < now() - make_interval(secs => $2::int)";

/*
 * The one token check of every protected route (DECISIONS S3, P): Bearer header only, HS256,
 * current key then previous key, exp and iat with leeway, key version, the user still there,
 * not issued before a password change, and inactivity measured from the later of the token's
 * last_activity and users.last_seen_at, which this refreshes at most once per
 * SESSION_TOUCH_SECONDS. In three parts, so the event loop can run the first and the last
 * around a pipelined query (loop_read_start): auth_token() reads the token into c->token,
 * auth_session() judges the user's row of SQL_USER_SESSION, auth_require() runs them all.
 */
/* What the token check needs of a token whose signature checked out. */
struct token_claims {
	long long uid, version;
	double exp, iat, last;
	bool has_iat, has_activity, remember;
	int key_offset; /* 0: signed with the current key; -1: the previous one; +1: the next one */
	char sid[SID_TEXT];
};

/* Verifies a token with each key in turn and reads its claims; -1 when it is not ours. */
static int token_verify(struct ctx *c, const char *token, struct token_claims *t)
{
	struct json cl;
	t->key_offset = 0;
	if (jwt_claims(c, token, cfg.jwt_secret, &cl)) {
		if (cfg.previous_jwt_secret && !jwt_claims(c, token, cfg.previous_jwt_secret, &cl))
			t->key_offset = -1;
		else if (cfg.next_jwt_secret && !jwt_claims(c, token, cfg.next_jwt_secret, &cl))
			t->key_offset = 1;
		else
			return -1;
	}
	t->version = 1;
	if (!json_double(&cl, json_get(&cl, 0, "exp"), &t->exp) ||
	    !json_int(&cl, json_get(&cl, 0, "user_id"), &t->uid) || t->uid < 1 || t->uid > INT32_MAX)
		return -1; /* users.id is an INTEGER: a larger id is nobody (not a failed query) */
	t->has_iat = json_double(&cl, json_get(&cl, 0, "iat"), &t->iat);
	int kv = json_get(&cl, 0, "key_version");
	if (kv >= 0 && !json_int(&cl, kv, &t->version))
		return -1;
	t->last = 0;
	t->has_activity = json_double(&cl, json_get(&cl, 0, "last_activity"), &t->last);
	t->remember = json_kind(&cl, json_get(&cl, 0, "remember_me")) == JK_TRUE;
	t->sid[0] = 0;
	int si = json_get(&cl, 0, "sid");
	if (si >= 0) { /* ours: base64url of SID_BYTES */
		size_t n;
		char *sid = json_kind(&cl, si) == JK_STRING ? json_string(&cl, si, &c->arena, &n) : NULL;
		if (!sid || !n || n >= sizeof t->sid || strspn(sid, B64URL) != n)
			return -1;
		memcpy(t->sid, sid, n + 1);
	}
	return 0;
}

/*
 * Tokens already verified. A session sends the same token with every request, and what a
 * token says cannot change while the process runs (the keys are fixed at start), so the
 * claims of each verified token are kept in a direct-mapped table: a hit costs a hash and a
 * compare instead of base64, HMAC-SHA256 and JSON. Only tokens whose signature checked out get
 * in; a token is compared in full and in constant time, so timing tells nothing of what a
 * cached token holds; and exp, iat, the key version and the session row are still checked on
 * every request, from the cached claims.
 */
enum { TOKEN_CACHE_SLOTS = 1024, TOKEN_CACHE_LEN = 480 };

struct token_slot {
	size_t len;
	char token[TOKEN_CACHE_LEN];
	struct token_claims claims;
};

static struct {
	pthread_mutex_t mu;
	struct token_slot *slots; /* TOKEN_CACHE_SLOTS, allocated at the first verified token */
} TOKEN_CACHE = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct token_slot *token_slot(const char *t, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)t[i]) * 16777619u;
	return &TOKEN_CACHE.slots[h & (TOKEN_CACHE_SLOTS - 1)];
}

static bool token_cache_get(const char *t, size_t n, struct token_claims *out)
{
	bool hit = false;
	pthread_mutex_lock(&TOKEN_CACHE.mu);
	if (TOKEN_CACHE.slots && n <= TOKEN_CACHE_LEN) {
		struct token_slot *s = token_slot(t, n);
		hit = s->len == n && ct_equal(s->token, n, t, n);
		if (hit)
			*out = s->claims;
	}
	pthread_mutex_unlock(&TOKEN_CACHE.mu);
	return hit;
}

static void token_cache_put(const char *t, size_t n, const struct token_claims *claims)
{
	if (n > TOKEN_CACHE_LEN)
		return;
	pthread_mutex_lock(&TOKEN_CACHE.mu);
	if (!TOKEN_CACHE.slots)
		TOKEN_CACHE.slots = calloc(TOKEN_CACHE_SLOTS, sizeof *TOKEN_CACHE.slots);
	if (TOKEN_CACHE.slots) {
		struct token_slot *s = token_slot(t, n);
		memcpy(s->token, t, n);
		s->len = n;
		s->claims = *claims;
	}
	pthread_mutex_unlock(&TOKEN_CACHE.mu);
}

/* The bearer token's signature, times and key version into c->token; -1 with *why when not. */
static int token_check(struct ctx *c, const char **why)
{
	struct slice h = http_header(c->req, "Authorization");
	*why = "Invalid token";
	if (h.n < 8 || memcmp(h.p, "Bearer ", 7)) {
		*why = "Not authenticated";
		return -1;
	}
	struct slice tok = sl_trim((struct slice){h.p + 7, h.n - 7});
	const char *sp = memchr(tok.p, ' ', tok.n);
	size_t n = sp ? (size_t)(sp - tok.p) : tok.n;
	if (n > TOKEN_MAX_BYTES)
		return -1; /* no HMAC (up to three) over kilobytes for anyone who asks */
	struct token_claims t;
	if (!token_cache_get(tok.p, n, &t)) {
		char *token = arena_strndup(&c->arena, tok.p, n);
		if (!token || token_verify(c, token, &t))
			return -1;
		token_cache_put(token, n, &t);
	}
	double now = wall_time();
	if (now > t.exp + (double)cfg.jwt_leeway_seconds) {
		*why = "Token has expired";
		return -1;
	}
	if (t.has_iat && t.iat > now + (double)cfg.jwt_leeway_seconds)
		return -1;
	if (t.version != cfg.jwt_key_version + t.key_offset) {
		*why = "Token has been invalidated. Please log in again.";
		return -1;
	}
	c->token.uid = t.uid;
	c->token.iat = t.iat;
	c->token.has_iat = t.has_iat;
	c->token.last = t.last;
	c->token.has_activity = t.has_activity;
	c->token.remember = t.remember;
	memcpy(c->token.sid, t.sid, sizeof t.sid);
	struct buf id = {.p = c->token.id, .cap = sizeof c->token.id - 1, .borrowed = true};
	buf_int(&id, t.uid);
	c->token.id[id.len] = 0;
	return 0;
}

static int auth_token(struct ctx *c)
{
	const char *why;
	if (!token_check(c, &why))
		return 0;
	resp_detail(c, 401, why);
	return -1;
}

/*
 * The user's row of SQL_USER_SESSION against the token: 0 when the session holds, 1 when it
 * holds but users.last_seen_at is due for a refresh (SQL_USER_TOUCH), -1 with the 401 written.
 */
static int auth_session(struct ctx *c, PGresult *res)
{
	const char *why = "Invalid token";
	if (PQntuples(res) != 1)
		goto out_fail; /* a deleted user's tokens stop working */
	double now = wall_time();
	/* microseconds since the epoch, as integers: cheaper to read than float text */
	double seen = PQgetisnull(res, 0, 0) ? 0 : (double)strtoll(PQgetvalue(res, 0, 0), NULL, 10) / 1e6;
	double changed = PQgetisnull(res, 0, 1) ? 0 : (double)strtoll(PQgetvalue(res, 0, 1), NULL, 10) / 1e6;
	str_copy(c->user.name, sizeof c->user.name, PQgetvalue(res, 0, 2));
	if (PQgetvalue(res, 0, 3)[0] != 't') { /* logged out, or a session that never was */
		why = "Token has been invalidated. Please log in again.";
		goto out_fail;
	}
	if (changed && c->token.has_iat && c->token.iat < changed) {
		why = "Token has been invalidated. Please log in again.";
		goto out_fail;
	}
	bool remember = c->token.remember;
	double last = c->token.last;
	double timeout = remember ? (double)cfg.remember_me_timeout_days * 86400
				  : (double)cfg.activity_timeout_minutes * 60;
	if (c->token.has_activity && now - (seen > last ? seen : last) > timeout) {
		char *msg = arena_alloc(&c->arena, 128);
		if (msg)
			snprintf(msg, 128,
				 "Session expired due to inactivity (timeout: %lld %s). Please log in again.",
				 remember ? cfg.remember_me_timeout_days : cfg.activity_timeout_minutes,
				 remember ? "days" : "minutes");
		why = msg ? msg : "Session expired due to inactivity. Please log in again.";
		goto out_fail;
	}
	c->user.id = c->token.uid;
	c->user.remember_me = remember;
	return !seen || now - seen >= (double)cfg.session_touch_seconds ? 1 : 0;
out_fail:
	resp_detail(c, 401, why);
	return -1;
}

/* The whole check on a worker; on failure the 401 (or 503) is written and -1 returned. */
static int auth_require(struct ctx *c)
{
	if (auth_token(c))
		return -1;
	PGresult *res;
	const char *p1[] = {c->token.id, c->token.sid};
	if (db_query(c, Q_USER_SESSION, 2, p1, &res))
		return -1;
	int rc = auth_session(c, res);
	PQclear(res);
	if (rc == 1) {
		char touch[24];
		snprintf(touch, sizeof touch, "%lld", cfg.session_touch_seconds);
		const char *p2[] = {c->token.id, touch, c->token.sid};
		if (db_query(c, Q_USER_TOUCH, 3, p2, &res))
			return -1;
		PQclear(res);
	}
	return rc < 0 ? -1 : 0;
}

/* --- Rate limits in PostgreSQL (DECISIONS S5): fixed windows, one atomic upsert --- */

static const char SQL_RATE_HIT[] =
	"INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2::bigint, 1)"
	" ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1"
	" RETURNING count";

/*
 * Counts one request against `rule` for `who`. Over the limit the 429 of DECISIONS S5 is
 * written and -1 returned (also -1 when the database failed, with its 503).
 */
static int rate_check(struct ctx *c, const struct rate_rule *rule, const char *who)
{
	long long now = (long long)wall_time(), start = now - now % rule->window;
	char key[300], win[24];
	snprintf(key, sizeof key, "%s:%s", rule->name, who);
	snprintf(win, sizeof win, "%lld", start);
	const char *params[] = {key, win};
	PGresult *res;
	if (db_query(c, Q_RATE_HIT, 2, params, &res))
		return -1;
	long long used = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	long long reset = start + rule->window, retry = reset - now;
	if (used <= rule->count)
		return 0;
	/* only the limit that was hit: a request may pass several checks first */
	char v[24];
	snprintf(v, sizeof v, "%lld", rule->count);
	resp_header(c, "X-RateLimit-Limit", v);
	resp_header(c, "X-RateLimit-Remaining", "0");
	snprintf(v, sizeof v, "%lld", reset);
	resp_header(c, "X-RateLimit-Reset", v);
	snprintf(v, sizeof v, "%lld", retry);
	resp_header(c, "Retry-After", v);
	char msg[96];
	snprintf(msg, sizeof msg, "Rate limit exceeded. Try again in %lld seconds.", retry);
	struct buf *b = resp_json(c, 429);
	json_kv_str(b, "error", "Too Many Requests");
	json_kv_str(b, "message", msg);
	json_kv_int(b, "limit", rule->count);
	json_kv_int(b, "retry_after", retry);
	json_kv_str(b, "detail", msg);
	resp_end(c);
	return -1;
}

/* --- Audit rows (ORIGINAL_API 7) --- */

/*
 * details as Python's json.dumps wrote them: ", " and ": " separators, non-ASCII escaped.
 * Build with audit_str()/audit_int() between audit_begin() and the write.
 */
static void audit_sep(struct buf *b)
{
	if (b->len > 1)
		buf_adds(b, ", ");
}

static void audit_str(struct buf *b, const char *key, const char *v)
{
	audit_sep(b);
	json_str_ascii(b, key, strlen(key));
	buf_adds(b, ": ");
	if (v)
		json_str_ascii(b, v, strlen(v));
	else
		buf_adds(b, "null");
}

static void audit_int(struct buf *b, const char *key, long long v)
{
	audit_sep(b);
	json_str_ascii(b, key, strlen(key));
	buf_printf(b, ": %lld", v);
}

static void audit_bool(struct buf *b, const char *key, bool v)
{
	audit_sep(b);
	json_str_ascii(b, key, strlen(key));
	buf_adds(b, v ? ": true" : ": false");
}

static const char SQL_AUDIT[] =
	"INSERT INTO audit_logs (user_id, action, details, ip_address, user_agent, timestamp)"
	" VALUES ($1::int, $2, $3, $4, $5, now() AT TIME ZONE 'UTC')";

/* An audit row's parameters (SQL_AUDIT); `details` is a buffer opened with '{' (closed here). */
struct audit_row {
	char uid[24], ua[256];
	const char *params[5];
	const char *action, *details; /* details in the request's arena */
	long long user_id;
	bool over; /* details did not fit: the row cannot be written, only logged */
};

static void audit_row(struct ctx *c, struct audit_row *a, long long user_id, const char *action,
		      struct buf *details)
{
	buf_addc(details, '}');
	buf_addc(details, 0);
	snprintf(a->uid, sizeof a->uid, "%lld", user_id);
	struct slice agent = http_header(c->req, "User-Agent");
	snprintf(a->ua, sizeof a->ua, "%.*s", (int)agent.n, agent.p);
	if (!agent.n || !utf8_valid(a->ua, strlen(a->ua)))
		snprintf(a->ua, sizeof a->ua, "unknown");
	char *text = details->p ? arena_alloc(&c->arena, details->len) : NULL;
	if (text)
		memcpy(text, details->p, details->len);
	a->over = details->over || !text;
	a->details = text ? text : "";
	a->params[0] = user_id > 0 ? a->uid : NULL;
	a->params[1] = action;
	a->params[2] = a->details;
	a->params[3] = c->client_ip;
	a->params[4] = a->ua;
	a->action = action;
	a->user_id = user_id;
	buf_free(details);
}

/* A row that could not be written is logged whole, so nothing is lost silently. */
static void audit_done(const struct audit_row *a, bool failed)
{
	if (failed) {
		struct buf f = {0};
		json_kv_str(&f, "action", a->action);
		json_kv_str(&f, "details", a->details);
		json_kv_int(&f, "user_id", a->user_id);
		log_emit(LOG_ERROR, "audit write failed", &f);
		buf_free(&f);
	}
}

/*
 * Writes one audit row. A failed write never fails the request: inside a transaction the row
 * commits with the change it records, and a savepoint keeps a failing insert from taking the
 * change down with it.
 */
static void audit_write(struct ctx *c, long long user_id, const char *action, struct buf *details)
{
	struct audit_row a;
	audit_row(c, &a, user_id, action, details);
	PGresult *res = NULL;
	bool in_tx = c->pg && PQtransactionStatus(c->pg->conn) == PQTRANS_INTRANS;
	int rc = a.over || (in_tx && db_exec_rc(c, "SAVEPOINT audit"))
			 ? PG_FAILED
			 : db_query_quiet(c, Q_AUDIT, 5, a.params, &res);
	PQclear(res);
	if (in_tx)
		db_exec_rc(c, rc ? "ROLLBACK TO SAVEPOINT audit" : "RELEASE SAVEPOINT audit");
	audit_done(&a, rc != PG_OK);
}

/*
 * The same inside a pipelined transaction: three steps (SAVEPOINT, the insert, RELEASE) to
 * follow the change and precede COMMIT. A row too long to write leaves only the savepoint.
 */
enum { AUDIT_STEPS = 3 };
static void audit_steps(struct audit_row *a, struct db_step *s)
{
	s[0] = (struct db_step){.sql = "SAVEPOINT audit"};
	s[1] = a->over ? (struct db_step){.sql = "SELECT 1"}
		       : (struct db_step){.q = Q_AUDIT, .n = 5, .params = a->params};
	s[2] = (struct db_step){.sql = "RELEASE SAVEPOINT audit"};
}

/*
 * After db_steps_rc: when what failed was the audit's insert (step at + 1), the change is
 * kept (back to the savepoint, then COMMIT) and the row logged. Returns the outcome.
 */
static int audit_steps_settle(struct ctx *c, struct audit_row *a, int rc, int failed, int at)
{
	bool audit_failed = a->over;
	if (rc == PG_FAILED && failed == at + 1) {
		audit_failed = true;
		rc = db_exec_rc(c, "ROLLBACK TO SAVEPOINT audit");
		if (!rc)
			rc = db_exec_rc(c, "COMMIT");
	}
	audit_done(a, audit_failed);
	return rc;
}

/* ==== 12. Outbound HTTPS and e-mail ================================================ */

/*
 * libcurl over BearSSL. The trust anchors are the Mozilla set, pre-decoded at build time
 * (droplin_ca_anchors.h), plus any certificates in OUTBOUND_CA_FILE. They are installed into
 * every handshake through CURLOPT_SSL_CTX_FUNCTION as a BearSSL X.509 engine, so verification
 * can never be turned off and no bundle is parsed per connection. Each worker keeps one
 * curl handle, so connections to the same service are reused.
 */
static struct {
	br_x509_trust_anchor *anchors;
	size_t n_anchors;
	struct curl_slist *resolve;
} O;

static _Thread_local CURL *out_handle;
static _Thread_local br_x509_minimal_context out_x509;

static void out_dn_append(void *ctx, const void *data, size_t len) { buf_add(ctx, data, len); }

static void *out_memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q)
		memcpy(q, p, n);
	return q;
}

/* Decodes one DER certificate into a trust anchor appended to O.anchors. */
static int out_add_anchor(const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	struct buf dn = {0};
	br_x509_decoder_init(&dc, out_dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	if (!pk || dn.over) {
		buf_free(&dn);
		return -1;
	}
	br_x509_trust_anchor ta = {.dn = {(unsigned char *)dn.p, dn.len},
				   .flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0};
	ta.pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta.pkey.key.rsa.n = out_memdup(pk->key.rsa.n, pk->key.rsa.nlen);
		ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta.pkey.key.rsa.e = out_memdup(pk->key.rsa.e, pk->key.rsa.elen);
		ta.pkey.key.rsa.elen = pk->key.rsa.elen;
	} else {
		ta.pkey.key.ec.curve = pk->key.ec.curve;
		ta.pkey.key.ec.q = out_memdup(pk->key.ec.q, pk->key.ec.qlen);
		ta.pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	O.anchors[O.n_anchors++] = ta;
	return 0;
}

/* Reads OUTBOUND_CA_FILE (PEM); every CERTIFICATE in it becomes a trust anchor. */
static int out_load_ca_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "OUTBOUND_CA_FILE %s: %s", path, strerror(errno));
		return -1;
	}
	br_pem_decoder_context pc;
	br_pem_decoder_init(&pc);
	struct buf der = {0};
	bool in_cert = false;
	int added = 0, bad = 0;
	unsigned char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		for (size_t off = 0; off < n;) {
			off += br_pem_decoder_push(&pc, chunk + off, n - off);
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				in_cert = !strcmp(br_pem_decoder_name(&pc), "CERTIFICATE") ||
					  !strcmp(br_pem_decoder_name(&pc), "X509 CERTIFICATE");
				der.len = 0;
				br_pem_decoder_setdest(&pc, in_cert ? out_dn_append : NULL, &der);
				break;
			case BR_PEM_END_OBJ:
				if (in_cert && O.n_anchors < sizeof DROPLIN_TAs / sizeof DROPLIN_TAs[0] +
								     OUT_MAX_EXTRA_ANCHORS)
					out_add_anchor((unsigned char *)der.p, der.len) ? bad++ : added++;
				in_cert = false;
				break;
			case BR_PEM_ERROR: bad++; break;
			default: break;
			}
		}
	}
	fclose(f);
	buf_free(&der);
	if (!added || bad) {
		snprintf(err, errlen, "OUTBOUND_CA_FILE %s: %d certificates read, %d unreadable", path, added,
			 bad);
		return -1;
	}
	log_msg(LOG_INFO, "OUTBOUND_CA_FILE: %d extra trust anchors", added);
	return 0;
}

static int out_init(char *err, size_t errlen)
{
	size_t builtin = sizeof DROPLIN_TAs / sizeof DROPLIN_TAs[0];
	O.anchors = calloc(builtin + OUT_MAX_EXTRA_ANCHORS, sizeof *O.anchors);
	if (!O.anchors)
		return -1;
	memcpy(O.anchors, DROPLIN_TAs, sizeof DROPLIN_TAs);
	O.n_anchors = builtin;
	if (cfg.outbound_ca_file && *cfg.outbound_ca_file &&
	    out_load_ca_file(cfg.outbound_ca_file, err, errlen))
		return -1;
	if (cfg.outbound_resolve && *cfg.outbound_resolve) {
		struct slice list = {cfg.outbound_resolve, strlen(cfg.outbound_resolve)}, tok;
		while (sl_next_token(&list, &tok)) {
			char entry[300];
			snprintf(entry, sizeof entry, "%.*s", (int)tok.n, tok.p);
			O.resolve = curl_slist_append(O.resolve, entry);
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return -1;
	}
	return 0;
}

/* Called by libcurl for every TLS handshake: verify against our anchors, always. */
static CURLcode out_ssl_ctx(CURL *curl, void *ssl_ctx, void *userptr)
{
	(void)curl;
	(void)userptr;
	br_ssl_client_context *cc = ssl_ctx;
	br_x509_minimal_init_full(&out_x509, O.anchors, O.n_anchors);
	br_ssl_engine_set_x509(&cc->eng, &out_x509.vtable);
	return CURLE_OK;
}

static size_t out_write_body(char *data, size_t size, size_t n, void *userp)
{
	struct buf *b = userp;
	buf_add(b, data, size * n);
	return b->over ? 0 : size * n;
}

struct out_request {
	const char *method, *url;
	struct curl_slist *headers;
	const char *body;
	size_t body_len;
	const char *request_id; /* sent as X-Request-ID (DECISIONS O4) */
	curl_mime *mime;        /* a multipart/form-data body instead of `body` */
};

/* This thread's curl handle, made on first use and kept so connections are reused. */
static CURL *out_handle_get(void)
{
	if (!out_handle)
		out_handle = curl_easy_init();
	return out_handle;
}

/* Each thread that calls out_call frees its handle on the way out. */
static void out_handle_free(void)
{
	curl_easy_cleanup(out_handle);
	out_handle = NULL;
}

/* One HTTPS call. Returns 0 with *status and `resp` filled, or -1 with a reason in err. */
static int out_call(const struct out_request *rq, long *status, struct buf *resp, char *err, size_t errlen)
{
	CURL *h = out_handle_get();
	if (!h) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	curl_easy_reset(h);
	struct curl_slist *headers = NULL;
	char idh[HTTP_REQUEST_ID_MAX + 16];
	for (struct curl_slist *s = rq->headers; s; s = s->next)
		headers = curl_slist_append(headers, s->data);
	if (rq->request_id) {
		snprintf(idh, sizeof idh, "X-Request-ID: %s", rq->request_id);
		headers = curl_slist_append(headers, idh);
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	resp->max = resp->max ? resp->max : OUT_MAX_RESPONSE;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg.outbound_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg.outbound_timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, out_ssl_ctx);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_RESOLVE, O.resolve);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "droplin/" DROPLIN_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, out_write_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	if (rq->mime)
		curl_easy_setopt(h, CURLOPT_MIMEPOST, rq->mime);
	if (rq->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
	}
	if (rq->method)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", *curl_err ? curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* --- E-mail through SendGrid's v3 API (DECISIONS E) --- */

/*
 * Mail leaves on its own thread after the response: a slow or failing SendGrid never delays
 * or breaks a route (the original ignored send errors too). The queue is bounded; a mail
 * that does not fit is logged, without its content outside development.
 */
struct mail {
	struct mail *next;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char *body; /* the SendGrid JSON */
	char to[160];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mail *head, *tail;
	struct mail *sending; /* the one on the wire, until its send ends */
	int n;
	bool stop, dropping; /* dropping: shutdown gave up on mail; what comes is dropped at once */
} M = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static bool mail_configured(void) { return cfg.sendgrid_api_key && *cfg.sendgrid_api_key; }

static void mail_enqueue(struct ctx *c, const char *to, const char *subject, const char *text,
			 const char *html)
{
	if (!mail_configured()) {
		/* development prints what would have been sent (the original printed codes too) */
		log_msg(cfg.dev ? LOG_INFO : LOG_WARN, "e-mail not configured; %s to %s: %s", subject, to,
			cfg.dev ? text : "(content withheld)");
		return;
	}
	struct buf b = {0};
	buf_adds(&b, "{\"personalizations\":[{\"to\":[{\"email\":");
	json_cstr(&b, to);
	buf_adds(&b, "}]}],\"from\":{\"email\":");
	json_cstr(&b, cfg.from_email);
	buf_adds(&b, "},\"subject\":");
	json_cstr(&b, subject);
	buf_adds(&b, ",\"content\":[{\"type\":\"text/plain\",\"value\":");
	json_cstr(&b, text);
	buf_adds(&b, "},{\"type\":\"text/html\",\"value\":");
	json_cstr(&b, html);
	buf_adds(&b, "}]}");
	buf_addc(&b, 0);
	struct mail *m = calloc(1, sizeof *m);
	if (!m || b.over) {
		free(m);
		buf_free(&b);
		return;
	}
	m->body = b.p;
	snprintf(m->request_id, sizeof m->request_id, "%s", c->request_id);
	snprintf(m->to, sizeof m->to, "%s", to);
	pthread_mutex_lock(&M.mu);
	if (M.n >= MAIL_QUEUE_MAX || M.dropping) {
		bool dropping = M.dropping;
		pthread_mutex_unlock(&M.mu);
		log_msg(LOG_ERROR, "%s; a mail to %s was dropped (request %s)",
			dropping ? "shutting down" : "mail queue full", to, c->request_id);
		free(m->body);
		free(m);
		return;
	}
	if (M.tail)
		M.tail->next = m;
	else
		M.head = m;
	M.tail = m;
	M.n++;
	pthread_cond_signal(&M.cv);
	pthread_mutex_unlock(&M.mu);
}

static void mail_send(struct mail *m)
{
	char url[512], auth[300], err[CURL_ERROR_SIZE + 64];
	snprintf(url, sizeof url, "%s/v3/mail/send", cfg.sendgrid_api_base);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg.sendgrid_api_key);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	struct out_request rq = {.method = "POST",
				 .url = url,
				 .headers = h,
				 .body = m->body,
				 .body_len = strlen(m->body),
				 .request_id = m->request_id};
	struct buf resp = {.max = 64 * 1024};
	long status = 0;
	int64_t t0 = now_ms();
	int rc = out_call(&rq, &status, &resp, err, sizeof err);
	curl_slist_free_all(h);
	buf_free(&resp);
	if (rc || status < 200 || status >= 300)
		log_msg(LOG_ERROR, "mail to %s failed after %lld ms: %s (request %s)", m->to,
			(long long)(now_ms() - t0), rc ? err : "SendGrid refused it", m->request_id);
	else
		log_msg(LOG_INFO, "mail to %s accepted in %lld ms (request %s)", m->to,
			(long long)(now_ms() - t0), m->request_id);
}

static void *mail_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&M.mu);
		while (!M.head && !M.stop)
			pthread_cond_wait(&M.cv, &M.mu);
		struct mail *m = M.head;
		if (m) {
			M.head = m->next;
			if (!M.head)
				M.tail = NULL;
			M.n--;
		}
		M.sending = m;
		pthread_mutex_unlock(&M.mu);
		if (!m) {
			out_handle_free();
			return NULL;
		}
		mail_send(m);
		pthread_mutex_lock(&M.mu);
		M.sending = NULL;
		pthread_mutex_unlock(&M.mu);
		free(m->body);
		free(m);
	}
}

/* The original's verification mail (also used, as the original did, for recovery codes). */
static void mail_code(struct ctx *c, const char *to, const char *code)
{
	char text[512], html[1024];
	long long minutes = cfg.code_ttl_seconds / 60;
	snprintf(text, sizeof text,
		 "Welcome to DropLink!\n\nYour verification code is: %s\n\nThis code expires in %lld "
		 "minutes.\n\n"
		 "If you didn't request this code, please ignore this email.",
		 code, minutes);
	snprintf(html, sizeof html,
		 "<html><body><h2>Welcome to DropLink!</h2><p>Your verification code is:</p>"
		 "<h1 style=\"letter-spacing:4px\">%s</h1><p>This code expires in %lld minutes.</p>"
		 "<p>If you didn't request this code, please ignore this email.</p></body></html>",
		 code, minutes);
	mail_enqueue(c, to, "DropLink - Your Verification Code", text, html);
}

static void mail_lockout_notice(struct ctx *c, const char *to, const char *username)
{
	char text[768], html[1536], esc[128];
	long long minutes = cfg.lockout_seconds / 60;
	size_t o = 0; /* the user name is ours, but escape it for the HTML part anyway */
	for (const char *p = username; *p && o < sizeof esc - 7; p++) {
		const char *rep = *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : NULL;
		if (rep)
			o += (size_t)snprintf(esc + o, sizeof esc - o, "%s", rep);
		else
			esc[o++] = *p;
	}
	esc[o] = 0;
	snprintf(text, sizeof text,
		 "Hello %s,\n\nYour DropLink account has been locked after %lld failed login attempts.\n"
		 "You can try again in %lld minutes.\n\nIf this wasn't you, please change your password.",
		 username, cfg.lockout_attempts, minutes);
	snprintf(
		html, sizeof html,
		"<html><body><h2>Account Locked</h2><p>Hello %s,</p><p>Your DropLink account has been locked "
		"after %lld failed login attempts.</p><p>You can try again in %lld minutes.</p>"
		"<p>If this wasn't you, please change your password.</p></body></html>",
		esc, cfg.lockout_attempts, minutes);
	mail_enqueue(c, to, "\xf0\x9f\x94\x92 Account Locked - DropLink Security Alert", text, html);
}

/* --- Photos in Cloudinary (DECISIONS E) --- */

/*
 * Signed uploads and deletions as Cloudinary documents them: the parameters (not file,
 * api_key or resource_type) sorted by name, joined as key=value with '&', the API secret
 * appended, hashed with SHA-1 (or SHA-256 by configuration) in hex.
 */
static struct {
	char cloud[128], key[128], secret[128];
	bool configured;
} CLD;

static const char CLD_FOLDER[] = "droplink/profile_photos";
static const char CLD_TRANSFORMATION[] = "c_limit,h_2048,q_90,w_2048";

/* CLOUDINARY_URL=cloudinary://key:secret@cloud, or the original's three variables. */
static int cld_init(char *err, size_t errlen)
{
	const char *url = cfg.cloudinary_url;
	static const char scheme[] = "cloudinary://";
	if (url && *url) {
		const char *colon =
			strncmp(url, scheme, sizeof scheme - 1) ? NULL : strchr(url + sizeof scheme - 1, ':');
		const char *at = colon ? strrchr(colon, '@') : NULL;
		if (!at || !at[1]) {
			snprintf(err, errlen, "CLOUDINARY_URL must look like cloudinary://key:secret@cloud");
			return -1;
		}
		snprintf(CLD.key, sizeof CLD.key, "%.*s", (int)(colon - url - (int)(sizeof scheme - 1)),
			 url + sizeof scheme - 1);
		snprintf(CLD.secret, sizeof CLD.secret, "%.*s", (int)(at - colon - 1), colon + 1);
		snprintf(CLD.cloud, sizeof CLD.cloud, "%s", at + 1);
	} else if (cfg.cloudinary_cloud_name && cfg.cloudinary_api_key && cfg.cloudinary_api_secret) {
		snprintf(CLD.cloud, sizeof CLD.cloud, "%s", cfg.cloudinary_cloud_name);
		snprintf(CLD.key, sizeof CLD.key, "%s", cfg.cloudinary_api_key);
		snprintf(CLD.secret, sizeof CLD.secret, "%s", cfg.cloudinary_api_secret);
	}
	CLD.configured = *CLD.cloud && *CLD.key && *CLD.secret;
	if (strcmp(cfg.cloudinary_signature_algorithm, "sha1") &&
	    strcmp(cfg.cloudinary_signature_algorithm, "sha256")) {
		snprintf(err, errlen, "CLOUDINARY_SIGNATURE_ALGORITHM must be sha1 or sha256");
		return -1;
	}
	return 0;
}

/* The hex signature of "k=v&k=v..." (already sorted) plus the secret. */
static void cld_sign(const char *to_sign, char out[65])
{
	unsigned char digest[32];
	size_t n;
	if (!strcmp(cfg.cloudinary_signature_algorithm, "sha256")) {
		br_sha256_context h;
		br_sha256_init(&h);
		br_sha256_update(&h, to_sign, strlen(to_sign));
		br_sha256_update(&h, CLD.secret, strlen(CLD.secret));
		br_sha256_out(&h, digest);
		n = 32;
	} else {
		br_sha1_context h;
		br_sha1_init(&h);
		br_sha1_update(&h, to_sign, strlen(to_sign));
		br_sha1_update(&h, CLD.secret, strlen(CLD.secret));
		br_sha1_out(&h, digest);
		n = 20;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* Adds a text part to a curl form. */
static void cld_field(curl_mime *form, const char *name, const char *value)
{
	curl_mimepart *part = curl_mime_addpart(form);
	curl_mime_name(part, name);
	curl_mime_data(part, value, CURL_ZERO_TERMINATED);
}

/* POSTs a signed form to /v1_1/<cloud>/image/<action>; the JSON answer lands in `resp`. */
static int cld_call(struct ctx *c, const char *action, curl_mime *form, const char *to_sign, const char *ts,
		    struct buf *resp, long *status, char *err, size_t errlen)
{
	char url[512], sig[65];
	cld_sign(to_sign, sig);
	cld_field(form, "api_key", CLD.key);
	cld_field(form, "timestamp", ts);
	cld_field(form, "signature", sig);
	snprintf(url, sizeof url, "%s/v1_1/%s/image/%s", cfg.cloudinary_api_base, CLD.cloud, action);
	struct out_request rq = {.url = url, .mime = form, .request_id = c->request_id};
	return out_call(&rq, status, resp, err, errlen);
}

/*
 * Uploads the image under a fresh public id; on success *url is the secure_url (arena).
 * The incoming transformation has Cloudinary limit it to 2048x2048 at quality 90 as JPEG,
 * so droplin needs no image library.
 */
static int cld_upload(struct ctx *c, const char *data, size_t n, long long user_id, char **url)
{
	unsigned char raw[8];
	char public_id[64], ts[24], err[CURL_ERROR_SIZE + 64];
	random_bytes(raw, sizeof raw);
	int o = snprintf(public_id, sizeof public_id, "user_%lld_", user_id);
	for (size_t i = 0; i < sizeof raw; i++)
		o += snprintf(public_id + o, sizeof public_id - (size_t)o, "%02x", raw[i]);
	snprintf(ts, sizeof ts, "%lld", (long long)wall_time());
	struct buf sign = {0};
	buf_printf(&sign, "folder=%s&format=jpg&public_id=%s&timestamp=%s&transformation=%s", CLD_FOLDER,
		   public_id, ts, CLD_TRANSFORMATION);
	buf_addc(&sign, 0);
	CURL *h = out_handle_get();
	curl_mime *form = h ? curl_mime_init(h) : NULL;
	if (!form || sign.over) {
		buf_free(&sign);
		return -1;
	}
	curl_mimepart *file = curl_mime_addpart(form);
	curl_mime_name(file, "file");
	curl_mime_filename(file, "upload");
	curl_mime_data(file, data, n);
	cld_field(form, "folder", CLD_FOLDER);
	cld_field(form, "format", "jpg");
	cld_field(form, "public_id", public_id);
	cld_field(form, "transformation", CLD_TRANSFORMATION);
	struct buf resp = {.max = 64 * 1024};
	long status = 0;
	int64_t t0 = now_ms();
	int rc = cld_call(c, "upload", form, sign.p, ts, &resp, &status, err, sizeof err);
	curl_mime_free(form);
	buf_free(&sign);
	struct json j;
	size_t len;
	*url = NULL;
	if (!rc && status == 200 && !json_parse(&c->arena, resp.p ? resp.p : "", resp.len, &j))
		*url = json_string(&j, json_get(&j, 0, "secure_url"), &c->arena, &len);
	if (!*url)
		log_msg(LOG_ERROR, "photo upload failed after %lld ms: %s (request %s)",
			(long long)(now_ms() - t0),
			rc              ? err
			: status != 200 ? "Cloudinary refused it"
					: "no secure_url in the answer",
			c->request_id);
	buf_free(&resp);
	return *url ? 0 : -1;
}

/* The public id inside a secure_url of our folder, or NULL (never destroy anything else). */
static char *cld_public_id(struct arena *a, const char *url)
{
	const char *p = url ? strstr(url, "/upload/") : NULL;
	if (!p)
		return NULL;
	p += 8;
	if (*p == 'v' && isdigit((unsigned char)p[1])) { /* the version segment */
		const char *slash = strchr(p, '/');
		if (!slash)
			return NULL;
		p = slash + 1;
	}
	if (strncmp(p, CLD_FOLDER, sizeof CLD_FOLDER - 1) || p[sizeof CLD_FOLDER - 1] != '/')
		return NULL;
	const char *dot = strrchr(p, '.'), *end = dot && !strchr(dot, '/') ? dot : p + strlen(p);
	return arena_strndup(a, p, (size_t)(end - p));
}

/* Best effort: a failure is logged, and leaves an orphaned asset, never a user without a photo. */
static void cld_destroy(struct ctx *c, const char *url)
{
	char *public_id = cld_public_id(&c->arena, url);
	if (!public_id || !CLD.configured)
		return;
	char ts[24], err[CURL_ERROR_SIZE + 64];
	snprintf(ts, sizeof ts, "%lld", (long long)wall_time());
	struct buf sign = {0};
	buf_printf(&sign, "public_id=%s&timestamp=%s", public_id, ts);
	buf_addc(&sign, 0);
	CURL *h = out_handle_get();
	curl_mime *form = h ? curl_mime_init(h) : NULL;
	struct buf resp = {.max = 16 * 1024};
	long status = 0;
	int rc = -1;
	if (form && !sign.over) {
		cld_field(form, "public_id", public_id);
		rc = cld_call(c, "destroy", form, sign.p, ts, &resp, &status, err, sizeof err);
	}
	if (rc || status != 200)
		log_msg(LOG_WARN, "photo %s not destroyed: %s (request %s)", public_id,
			rc ? err : "Cloudinary refused it", c->request_id);
	curl_mime_free(form);
	buf_free(&sign);
	buf_free(&resp);
}

/* ==== 13. Handlers: meta and probes ================================================ */

static void h_root(struct ctx *c)
{
	struct buf *b = resp_json(c, 200);
	json_kv_str(b, "message", "DropLink API");
	json_kv_str(b, "version", API_VERSION);
	json_kv_str(b, "status", "running");
	resp_end(c);
}

/* DECISIONS R6: from the probe thread's state, never waiting on the database. */
static void h_health(struct ctx *c)
{
	char ts[40];
	bool ok = pg_healthy();
	time_iso_utc(ts);
	struct buf *b = resp_json(c, ok ? 200 : 503);
	json_kv_str(b, "status", ok ? "healthy" : "unhealthy");
	json_kv_str(b, "timestamp", ts);
	json_kv_str(b, "database", ok ? "connected" : "disconnected");
	if (!ok)
		json_kv_str(b, "error", "Database connection failed");
	json_kv_str(b, "version", API_VERSION);
	if (ok)
		json_kv_str(b, "environment", cfg.env);
	json_kv_str(b, "replica", log_replica);
	json_kv_str(b, "region", cfg.region);
	json_kv_int(b, "uptime_seconds", (now_ms() - L.started_ms) / 1000);
	resp_end(c);
}

static void h_ready(struct ctx *c)
{
	char ts[40];
	struct readiness r = readiness_now();
	bool db = r.db, tables = r.tables, migrated = r.migrated, draining = r.draining, ready = r.ready;
	time_iso_utc(ts);
	struct buf *b = resp_json(c, ready ? 200 : 503);
	json_kv_str(b, "status", ready ? "ready" : "not_ready");
	json_kv_str(b, "timestamp", ts);
	json_key(b, "checks");
	buf_addc(b, '{');
	json_kv_bool(b, "database", db);
	json_kv_bool(b, "environment_vars", true);
	json_kv_bool(b, "database_tables", tables);
	json_kv_bool(b, "database_write", tables);
	json_kv_bool(b, "migrations", migrated);
	json_kv_bool(b, "draining", draining);
	buf_addc(b, '}');
	if (!ready) {
		json_key(b, "errors");
		buf_addc(b, '[');
		const char *sep = "";
		struct {
			bool failed;
			const char *text;
		} errs[] = {{!db, "Database connection failed"},
			    {db && !tables, "Database tables check failed"},
			    {!migrated, "Migrations not applied yet"},
			    {draining, "Shutting down"}};
		for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
			if (errs[i].failed) {
				buf_adds(b, sep);
				json_cstr(b, errs[i].text);
				sep = ",";
			}
		buf_addc(b, ']');
	}
	json_kv_str(b, "version", API_VERSION);
	json_kv_str(b, "environment", cfg.env);
	resp_end(c);
}

static void h_livez(struct ctx *c)
{
	json_kv_str(resp_json(c, 200), "status", "alive");
	resp_end(c);
}

/* ==== 14. Handlers: accounts ======================================================= */

/* {"success": true, "message": ...} */
static void resp_success(struct ctx *c, const char *message)
{
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message", message);
	resp_end(c);
}

static const char SQL_SESSION_NEW[] =
	"INSERT INTO sessions (sid, user_id, remember_me) VALUES ($1, $2::int, $3::bool)";

/* A new session for a login, its id into sid; -1 with the 503 written when the database failed. */
static int session_new(struct ctx *c, long long user_id, bool remember_me, char sid[SID_TEXT])
{
	unsigned char raw[SID_BYTES];
	random_bytes(raw, sizeof raw);
	b64url_encode(sid, raw, sizeof raw);
	char id[24];
	snprintf(id, sizeof id, "%lld", user_id);
	const char *p[] = {sid, id, remember_me ? "t" : "f"};
	PGresult *res;
	if (db_query(c, Q_SESSION_NEW, 3, p, &res))
		return -1;
	PQclear(res);
	return 0;
}

/*
 * {"token","user_id","username"}, the original's AuthResponse, for session `sid` (a refresh;
 * "" for a token of the original backend's, which stays without one), or for a new session
 * when sid is NULL (a login).
 */
static void resp_auth(struct ctx *c, long long user_id, const char *username, bool remember_me,
		      const char *sid)
{
	char fresh[SID_TEXT];
	if (!sid) {
		if (session_new(c, user_id, remember_me, fresh))
			return;
		sid = fresh;
	}
	char *token = jwt_issue(c, user_id, username, remember_me, sid);
	if (!token) {
		resp_internal_error(c, "token signing failed");
		return;
	}
	struct buf *b = resp_json(c, 200);
	json_kv_str(b, "token", token);
	json_kv_int(b, "user_id", user_id);
	json_kv_str(b, "username", username);
	resp_end(c);
}

static struct buf audit_begin(void)
{
	struct buf b = {0};
	buf_addc(&b, '{');
	return b;
}

/* --- POST /auth/check-password-strength --- */

static void h_check_password_strength(struct ctx *c)
{
	if (body_object(c))
		return;
	int pi = json_get(&c->json, 0, "password");
	size_t len = 0;
	char *pw = json_kind(&c->json, pi) == JK_STRING ? json_string(&c->json, pi, &c->arena, &len) : NULL;
	if (pi >= 0 && json_kind(&c->json, pi) != JK_STRING && json_kind(&c->json, pi) != JK_NULL) {
		verr_add(c, "password", "Input should be a valid string");
		resp_validation(c);
		return;
	}
	if (!pw || !*pw) {
		resp_detail(c, 400, "Password is required");
		return;
	}
	int ui = json_get(&c->json, 0, "username");
	char *user = json_kind(&c->json, ui) == JK_STRING ? json_string(&c->json, ui, &c->arena, &len) : NULL;
	/* it runs on the loop: its comparisons cost |password| x |username|, so both are capped */
	if (utf8_len(pw, strlen(pw)) > PASSWORD_MAX_CHARS)
		verr_add(c, "password", "Must be at most allowed characters");
	if (user && utf8_len(user, strlen(user)) > USERNAME_CHECK_MAX_CHARS)
		verr_add(c, "username", "Must be at most allowed characters");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	struct buf errs = {0};
	pw_register_errors(pw, user, &errs);
	buf_addc(&errs, 0);
	struct pw_classes k = pw_ascii_classes(pw);
	int score = pw_strength(pw);
	bool same = user && *user && !strcasecmp(pw, user);
	bool contains = user && strlen(user) >= 3 && str_icontains(pw, user);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "valid", errs.len <= 1);
	json_kv_str(b, "strength", pw_level(score));
	json_kv_int(b, "score", score);
	json_key(b, "errors");
	buf_addc(b, '[');
	for (char *e = errs.p, *next; e && *e; e = next) { /* split on "; " */
		next = strstr(e, "; ");
		json_str(b, e, next ? (size_t)(next - e) : strlen(e));
		if (next) {
			next += 2;
			buf_addc(b, ',');
		}
	}
	buf_addc(b, ']');
	json_key(b, "requirements");
	buf_addc(b, '{');
	json_kv_bool(b, "min_length", utf8_len(pw, strlen(pw)) >= 8);
	json_kv_bool(b, "uppercase", k.upper);
	json_kv_bool(b, "lowercase", k.lower);
	json_kv_bool(b, "number", k.digit);
	json_kv_bool(b, "special_char", k.special);
	json_kv_bool(b, "not_common", !pw_is_common(pw));
	json_kv_bool(b, "not_username", !same && !contains);
	buf_addc(b, '}');
	resp_end(c);
	buf_free(&errs);
}

/* --- Usernames and e-mail (ORIGINAL_API 4.1, 4.3) --- */

/* Register's username rule; the error text, or NULL when fine. `name` is trimmed and lowered. */
static const char *username_error(const char *name)
{
	size_t n = strlen(name);
	if (!n)
		return "Username is required";
	if (n < 3 || n > 20)
		return "Username must be 3-20 characters";
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
			return "Username can only contain letters, numbers, underscores, and periods";
	return NULL;
}

/* ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$ */
static bool email_valid(const char *e)
{
	const char *at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@'))
		return false;
	for (const char *p = e; p < at; p++)
		if (!isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)
			if (!strchr("._%+-", *p))
				return false;
	const char *dot = strrchr(at + 1, '.');
	if (!dot || dot == at + 1 || strlen(dot + 1) < 2)
		return false;
	for (const char *p = at + 1; p < dot; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-'))
			return false;
	for (const char *p = dot + 1; *p; p++)
		if (!isalpha((unsigned char)*p))
			return false;
	return true;
}

/* --- POST /auth/register --- */

static const char SQL_USERNAME_TAKEN[] = "SELECT 1 FROM users WHERE lower(username) = $1 LIMIT 1";
static const char SQL_EMAIL_TAKEN[] = "SELECT 1 FROM users WHERE lower(email) = $1 LIMIT 1";
/* uniqueness without UNIQUE indexes on adopted data (DECISIONS P): lock the normalised value */
static const char SQL_XACT_LOCK[] = "SELECT pg_advisory_xact_lock(1684172657, hashtext($1))";
static const char SQL_USER_INSERT[] =
	"INSERT INTO users (username, password_hash, email, created_at, failed_login_attempts, key_version)"
	" VALUES ($1, $2, $3, now() AT TIME ZONE 'UTC', 0, 1) RETURNING id";
static const char SQL_SETTINGS_INSERT[] =
	"INSERT INTO user_settings (user_id, dark_mode, max_distance) VALUES ($1::int, 1, 33)"
	" ON CONFLICT (user_id) DO NOTHING";

struct register_form {
	char *username, *password, *email;
};

static void audit_registration_failed(struct ctx *c, const char *username, const char *email,
				      const char *reason)
{
	struct buf d = audit_begin();
	audit_str(&d, "username", username);
	if (email)
		audit_str(&d, "email", email);
	audit_str(&d, "reason", reason);
	audit_write(c, 0, "registration_failed", &d);
}

/* True (with the 400 and audit written) when the name or the e-mail is taken. */
static bool register_taken(struct ctx *c, const struct register_form *f, bool *failed)
{
	PGresult *res;
	const char *p1[] = {f->username};
	*failed = true;
	if (db_query(c, Q_USERNAME_TAKEN, 1, p1, &res))
		return true;
	bool taken = PQntuples(res) > 0;
	PQclear(res);
	if (taken) {
		audit_registration_failed(c, f->username, NULL, "username_taken");
		resp_detail(c, 400, "Username already taken");
		return true;
	}
	if (f->email) {
		const char *p2[] = {f->email};
		if (db_query(c, Q_EMAIL_TAKEN, 1, p2, &res))
			return true;
		taken = PQntuples(res) > 0;
		PQclear(res);
		if (taken) {
			audit_registration_failed(c, f->username, f->email, "email_exists");
			resp_detail(c, 400, "An account with this email already exists");
			return true;
		}
	}
	*failed = false;
	return false;
}

static void h_register_commit(struct ctx *c);

static void h_register(struct ctx *c)
{
	struct register_form *f = arena_alloc(&c->arena, sizeof *f);
	if (!f || rate_check(c, &RATE_REGISTER, c->client_key) || body_object(c))
		return;
	c->state = f;
	if (!field_str(c, "username", 0, 0, 0, &f->username)) {
		f->username = str_lower(str_trim(f->username));
		const char *e = username_error(f->username);
		if (e)
			verr_add(c, "username", verr_value(c, e));
	}
	if (!field_str(c, "password", 0, 8, PASSWORD_MAX_CHARS, &f->password)) {
		struct buf errs = {0};
		pw_register_errors(f->password, f->username, &errs);
		buf_addc(&errs, 0);
		if (errs.len > 1)
			verr_add(c, "password",
				 verr_value(c, arena_strndup(&c->arena, errs.p, errs.len - 1)));
		buf_free(&errs);
	}
	if (!field_str(c, "email", F_OPTIONAL, 0, 0, &f->email) && f->email) {
		f->email = str_lower(str_trim(f->email));
		if (!*f->email)
			f->email = NULL;
		else if (strlen(f->email) > 100 || !email_valid(f->email))
			verr_add(c, "email", "Value error, Invalid email format");
	}
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	bool failed;
	if (register_taken(c, f, &failed)) /* cheap early answer; checked again under the lock */
		return;
	char account[48];
	snprintf(account, sizeof account, "name:%s", f->username);
	bcrypt_request(c, account, f->password, NULL, h_register_commit);
}

/* After bcrypt: insert under advisory locks so two replicas racing cannot both win. */
static void h_register_commit(struct ctx *c)
{
	struct register_form *f = c->state;
	PGresult *res;
	const char *hash = c->bcrypt.result;
	if (strncmp(hash, "$2b$", 4)) {
		resp_internal_error(c, "bcrypt failed");
		return;
	}
	if (db_exec(c, "BEGIN") || db_xact_lock(c, "username", f->username) ||
	    (f->email && db_xact_lock(c, "email", f->email)))
		return;
	bool failed;
	if (register_taken(c, f, &failed)) {
		if (!failed || c->status != 503)
			db_exec(c, "COMMIT"); /* keeps the registration_failed audit row */
		return;
	}
	const char *pi[] = {f->username, hash, f->email};
	if (db_query(c, Q_USER_INSERT, 3, pi, &res))
		return;
	long long id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	char ids[24];
	snprintf(ids, sizeof ids, "%lld", id);
	const char *ps[] = {ids};
	if (db_query(c, Q_SETTINGS_INSERT, 1, ps, &res))
		return;
	PQclear(res);
	struct buf d = audit_begin();
	audit_str(&d, "username", f->username);
	audit_str(&d, "email", f->email);
	audit_write(c, id, "user_registration", &d);
	char sid[SID_TEXT];
	if (session_new(c, id, false, sid) || db_exec(c, "COMMIT")) /* the account and its session */
		return;
	resp_auth(c, id, f->username, false, sid);
}

/* --- POST /auth/login (ORIGINAL_API 3.2, 6.1; DECISIONS S6, P) --- */

/* Seconds left on a lock stored as naive UTC text; NULL when unset or unreadable. */
#define SQL_LOCK_REMAINING                                                                                   \
	"CASE WHEN locked_until ~ '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?$'"            \
	" THEN ceil(extract(epoch FROM locked_until::timestamp - (now() AT TIME ZONE 'UTC')))::bigint END"

static const char SQL_LOGIN_USER[] =
	"SELECT id, username, password_hash, email, GREATEST(COALESCE(" SQL_LOCK_REMAINING ", 0), 0)"
	"  FROM users WHERE lower(username) = $1 ORDER BY id LIMIT 1";

/*
 * One wrong password, counted atomically: the row lock of FOR UPDATE serialises parallel
 * attempts, so twenty at once count exactly as twenty in a row would (DECISIONS P).
 */
static const char SQL_LOGIN_FAILED[] =
	"WITH old AS ("
	"  SELECT id, COALESCE(failed_login_attempts, 0) AS n, locked_until IS NOT NULL AS had_lock,"
	"         GREATEST(COALESCE(" SQL_LOCK_REMAINING ", 0), 0) AS remaining"
	"    FROM users WHERE id = $1::int FOR UPDATE),"
	" next AS ("
	"  SELECT id, remaining, remaining > 0 AS was_locked,"
	"         CASE WHEN remaining > 0 THEN n WHEN had_lock THEN 1 ELSE n + 1 END AS count"
	"    FROM old)"
	" UPDATE users u SET failed_login_attempts = next.count,"
	"   locked_until = CASE WHEN next.was_locked THEN u.locked_until"
	"                       WHEN next.count >= $2::int THEN to_char((now() AT TIME ZONE 'UTC')"
	"                            + make_interval(secs => $3::int), 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
	"                  END"
	"  FROM next WHERE u.id = next.id"
	" RETURNING next.count, next.was_locked, next.remaining, NOT next.was_locked AND next.count >= "
	"$2::int";

/* A right password resets the counters, unless a lock was set meanwhile. */
static const char SQL_LOGIN_OK[] =
	"WITH old AS ("
	"  SELECT id, GREATEST(COALESCE(" SQL_LOCK_REMAINING ", 0), 0) AS remaining"
	"    FROM users WHERE id = $1::int FOR UPDATE)"
	" UPDATE users u SET"
	"   failed_login_attempts = CASE WHEN old.remaining > 0 THEN u.failed_login_attempts ELSE 0 END,"
	"   locked_until = CASE WHEN old.remaining > 0 THEN u.locked_until END"
	"  FROM old WHERE u.id = old.id RETURNING old.remaining";

struct login_form {
	char *username, *password;
	bool remember_me;
	long long id; /* 0: no such user */
	char *stored_name, *email;
	const char *fail_action; /* the audit row of a failure; NULL: login_failed */
};

static void resp_locked(struct ctx *c, long long remaining)
{
	char msg[128], retry[24];
	snprintf(msg, sizeof msg,
		 "Account locked due to multiple failed login attempts. Try again in %lld minutes.",
		 remaining / 60);
	snprintf(retry, sizeof retry, "%lld", remaining);
	resp_header(c, "Retry-After", retry);
	resp_detail(c, 423, msg);
}

static void audit_login_failed(struct ctx *c, struct login_form *f, const char *reason, long long n)
{
	struct buf d = audit_begin();
	audit_str(&d, "username", f->username);
	audit_str(&d, "reason", reason);
	if (!strcmp(reason, "account_locked"))
		audit_int(&d, "remaining_minutes", n);
	else if (!strcmp(reason, "invalid_password"))
		audit_int(&d, "failed_attempts", n);
	audit_write(c, f->id, f->fail_action ? f->fail_action : "login_failed", &d);
}

static void h_login_checked(struct ctx *c);

static void h_login(struct ctx *c)
{
	struct login_form *f = arena_alloc(&c->arena, sizeof *f);
	if (!f || rate_check(c, &RATE_LOGIN, c->client_key) || body_object(c))
		return;
	*f = (struct login_form){0};
	c->state = f;
	if (!field_str(c, "username", 0, 0, 0, &f->username)) {
		f->username = str_lower(str_trim(f->username));
		size_t n = utf8_len(f->username, strlen(f->username));
		if (n < 3 || n > 20)
			verr_add(c, "username",
				 n < 3 ? "Must be at least required characters"
				       : "Must be at most allowed characters");
	}
	field_str(c, "password", 0, 1, PASSWORD_MAX_CHARS, &f->password);
	field_bool(c, "remember_me", false, &f->remember_me);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	PGresult *res;
	const char *p[] = {f->username};
	if (db_query(c, Q_LOGIN_USER, 1, p, &res))
		return;
	char setting[BCRYPT_SETTING_MAX];
	bcrypt_dummy_setting(setting);
	if (PQntuples(res) == 1) {
		f->id = atoll(PQgetvalue(res, 0, 0));
		f->stored_name =
			arena_strndup(&c->arena, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
		snprintf(setting, sizeof setting, "%s", PQgetvalue(res, 0, 2));
		if (!PQgetisnull(res, 0, 3))
			f->email = arena_strndup(&c->arena, PQgetvalue(res, 0, 3),
						 (size_t)PQgetlength(res, 0, 3));
		long long remaining = atoll(PQgetvalue(res, 0, 4));
		PQclear(res);
		if (remaining > 0) { /* the lock is checked before the password, as the original did */
			audit_login_failed(c, f, "account_locked", remaining / 60);
			resp_locked(c, remaining);
			return;
		}
	} else {
		PQclear(res);
	}
	char account[48];
	snprintf(account, sizeof account, "name:%s", f->username);
	bcrypt_request(c, account, f->password, setting, h_login_checked);
}

static void mail_lockout_notice(struct ctx *c, const char *to, const char *username);
static void password_failed(struct ctx *c, struct login_form *f, const char *wrong);

static void h_login_checked(struct ctx *c)
{
	struct login_form *f = c->state;
	char id[24];
	snprintf(id, sizeof id, "%lld", f->id);
	if (!f->id) {
		audit_login_failed(c, f, "user_not_found", 0);
		resp_detail(c, 401, "Invalid username or password");
		return;
	}
	if (bcrypt_matched(c) && !seed_login(f->username, f->password)) {
		long long remaining;
		if (db_int(c, Q_LOGIN_OK, id, &remaining))
			return;
		if (remaining > 0) { /* locked in parallel while bcrypt ran */
			audit_login_failed(c, f, "account_locked", remaining / 60);
			resp_locked(c, remaining);
			return;
		}
		struct buf d = audit_begin();
		audit_str(&d, "username", f->username);
		audit_bool(&d, "remember_me", f->remember_me);
		audit_write(c, f->id, "login_success", &d);
		resp_auth(c, f->id, f->stored_name, f->remember_me, NULL);
		return;
	}
	password_failed(c, f, "Invalid username or password");
}

/*
 * One wrong password for account f (a login's, or change-password's current one), counted
 * toward the lockout atomically: the 423 when the account is or becomes locked (with its
 * audit row and lockout e-mail), else 401 with `wrong`.
 */
static void password_failed(struct ctx *c, struct login_form *f, const char *wrong)
{
	char id[24], max[24], secs[24];
	snprintf(id, sizeof id, "%lld", f->id);
	snprintf(max, sizeof max, "%lld", cfg.lockout_attempts);
	snprintf(secs, sizeof secs, "%lld", cfg.lockout_seconds);
	PGresult *res;
	const char *p[] = {id, max, secs};
	if (db_query(c, Q_LOGIN_FAILED, 3, p, &res))
		return;
	if (PQntuples(res) != 1) { /* deleted meanwhile */
		PQclear(res);
		resp_detail(c, 401, wrong);
		return;
	}
	long long count = atoll(PQgetvalue(res, 0, 0)), remaining = atoll(PQgetvalue(res, 0, 2));
	bool was_locked = PQgetvalue(res, 0, 1)[0] == 't', just_locked = PQgetvalue(res, 0, 3)[0] == 't';
	PQclear(res);
	if (was_locked) {
		audit_login_failed(c, f, "account_locked", remaining / 60);
		resp_locked(c, remaining);
	} else if (just_locked) {
		struct buf d = audit_begin();
		audit_str(&d, "username", f->username);
		audit_int(&d, "failed_attempts", count);
		audit_int(&d, "lock_duration_minutes", cfg.lockout_seconds / 60);
		audit_write(c, f->id, "account_locked", &d);
		if (f->email)
			mail_lockout_notice(c, f->email, f->stored_name);
		resp_locked(c, cfg.lockout_seconds);
	} else {
		audit_login_failed(c, f, "invalid_password", count);
		resp_detail(c, 401, wrong);
	}
}

/* --- POST /auth/refresh --- */

/*
 * The new token is dated when its check began: a password change or logout that lands between
 * the check and the signing is later than the token, which it therefore ends.
 */
static void h_refresh(struct ctx *c)
{
	c->token_iat = wall_time();
	if (auth_require(c))
		return;
	resp_auth(c, c->user.id, c->user.name, c->user.remember_me, c->token.sid);
}

/* --- POST /auth/logout, POST /auth/logout-all --- */

/* This token's session ends; a token without one (the original's) ends all such tokens. */
static const char SQL_SESSION_END[] =
	"WITH s AS (UPDATE sessions SET revoked_at = now()"
	"            WHERE $2 <> '' AND sid = $2 AND user_id = $1::int AND revoked_at IS NULL)"
	"UPDATE users SET legacy_tokens_revoked_at = now() WHERE $2 = '' AND id = $1::int";

/* Every session of the user ends, and every token without one. */
static const char SQL_SESSIONS_END_ALL[] =
	"WITH s AS (UPDATE sessions SET revoked_at = now()"
	"            WHERE user_id = $1::int AND revoked_at IS NULL RETURNING 1),"
	" u AS (UPDATE users SET legacy_tokens_revoked_at = now() WHERE id = $1::int)"
	"SELECT count(*) FROM s";

static void h_logout(struct ctx *c)
{
	if (auth_require(c))
		return;
	const char *p[] = {c->token.id, c->token.sid};
	PGresult *res;
	if (db_query(c, Q_SESSION_END, 2, p, &res))
		return;
	PQclear(res);
	struct buf d = audit_begin();
	audit_str(&d, "username", c->user.name);
	audit_bool(&d, "session", c->token.sid[0] != 0);
	audit_write(c, c->user.id, "logout", &d);
	resp_success(c, "Logged out");
}

static void h_logout_all(struct ctx *c)
{
	if (auth_require(c))
		return;
	long long ended;
	if (db_int(c, Q_SESSIONS_END_ALL, c->token.id, &ended))
		return;
	struct buf d = audit_begin();
	audit_str(&d, "username", c->user.name);
	audit_int(&d, "sessions_ended", ended);
	audit_write(c, c->user.id, "logout_all", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message", "Logged out everywhere");
	json_kv_int(b, "sessions_ended", ended);
	resp_end(c);
}

/* --- POST /auth/check-username, check-email, check-phone --- */

static void resp_available(struct ctx *c, bool available, const char *message)
{
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "available", available);
	json_kv_str(b, "message", message);
	resp_end(c);
}

static void h_check_username(struct ctx *c)
{
	char *name;
	if (body_object(c))
		return;
	if (!field_str(c, "username", 0, 0, 0, &name)) {
		name = str_lower(str_trim(name));
		const char *e = username_error(name);
		if (e)
			verr_add(c, "username", verr_value(c, e));
	}
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	PGresult *res;
	const char *p[] = {name};
	if (db_query(c, Q_USERNAME_TAKEN, 1, p, &res))
		return;
	bool taken = PQntuples(res) > 0;
	PQclear(res);
	resp_available(c, !taken, taken ? "Username already taken" : "Username available");
}

/* ^[^\s@]+@[^\s@]+\.[^\s@]+$ */
static bool email_loose_valid(const char *e)
{
	const char *at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@'))
		return false;
	for (const char *p = e; *p; p++)
		if (isspace((unsigned char)*p))
			return false;
	const char *dot = strrchr(at + 1, '.');
	return dot && dot > at + 1 && dot[1];
}

static void h_check_email(struct ctx *c)
{
	char *email;
	if (body_object(c) || field_str(c, "email", 0, 0, 0, &email)) {
		if (c->n_verrs)
			resp_validation(c);
		return;
	}
	email = str_lower(str_trim(email));
	if (!email_loose_valid(email)) {
		resp_available(c, false, "Please enter a valid email address");
		return;
	}
	PGresult *res;
	const char *p[] = {email};
	if (db_query(c, Q_EMAIL_TAKEN, 1, p, &res))
		return;
	bool taken = PQntuples(res) > 0;
	PQclear(res);
	resp_available(c, !taken, taken ? "Email is already in use" : "Email available");
}

static const char SQL_PHONE_TAKEN[] = "SELECT 1 FROM user_profiles WHERE phone = $1 LIMIT 1";

static void h_check_phone(struct ctx *c)
{
	char *phone;
	if (body_object(c) || field_str(c, "phone", 0, 0, 0, &phone)) {
		if (c->n_verrs)
			resp_validation(c);
		return;
	}
	char digits[32];
	size_t n = 0;
	for (const char *p = phone; *p; p++)
		if (*p >= '0' && *p <= '9' && n < sizeof digits - 1)
			digits[n++] = *p;
		else if (*p >= '0' && *p <= '9')
			n = sizeof digits; /* far too many digits */
	if (n != 10) {
		resp_available(c, false, "Phone number must be 10 digits");
		return;
	}
	digits[n] = 0;
	PGresult *res;
	const char *p[] = {digits};
	if (db_query(c, Q_PHONE_TAKEN, 1, p, &res))
		return;
	bool taken = PQntuples(res) > 0;
	PQclear(res);
	resp_available(c, !taken, taken ? "Phone number is already in use" : "Phone number available");
}

/* --- Parameters that come as a query string or, for the mobile app, a JSON body (C2) --- */

/*
 * Reads the body as a JSON object when there is one; a body that is present but not an
 * object answers 422 (-1). With no body, fields come from the query string alone.
 */
static int params_open(struct ctx *c)
{
	if (!c->req->body.n)
		return 0;
	return body_object(c);
}

/* A required string from the JSON body, else from the query string; 422 "Field required". */
static char *param_str(struct ctx *c, const char *key)
{
	char *v = NULL;
	if (c->json.n && json_get(&c->json, 0, key) >= 0) {
		field_str(c, key, F_OPTIONAL, 0, 0, &v);
		if (v)
			return v;
		if (c->n_verrs)
			return NULL;
	}
	v = query_param(c, key);
	if (!v)
		verr_add(c, key, "Field required");
	return v;
}

/* --- Verification and recovery codes (ORIGINAL_API 6.3, DECISIONS S4) --- */

static const char SQL_CODE_REPLACE[] =
	"WITH gone AS (DELETE FROM verification_codes WHERE email = $1 AND code_type = $2)"
	" INSERT INTO verification_codes (email, code, code_type, expires_at, created_at, attempts)"
	" VALUES ($1, $3, $2, to_char((now() AT TIME ZONE 'UTC') + make_interval(secs => $4::int),"
	"         'YYYY-MM-DD\"T\"HH24:MI:SS.US'), now() AT TIME ZONE 'UTC', 0)";

#define SQL_CODE_EXPIRED                                                                                     \
	"NOT COALESCE(expires_at ~ '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?$'"           \
	"             AND expires_at::timestamp > now() AT TIME ZONE 'UTC', false)"
#define SQL_CODE_NEWEST                                                                                      \
	"SELECT id FROM verification_codes WHERE email = $1 AND code_type = $2"                              \
	" ORDER BY created_at DESC, id DESC LIMIT 1"

/*
 * A guess first takes one of the code's tries, atomically (the row lock orders parallel
 * guesses), and only a guess that got one is compared: however many arrive at once, at most
 * CODE_MAX_ATTEMPTS are ever evaluated, on every replica together.
 */
static const char SQL_CODE_TRY[] = "UPDATE verification_codes SET attempts = attempts + 1"
				   " WHERE id = (" SQL_CODE_NEWEST ") AND attempts < $3::int"
				   " RETURNING id, code, " SQL_CODE_EXPIRED ", attempts";

static const char SQL_CODE_DELETE[] = "DELETE FROM verification_codes WHERE id = $1::int RETURNING id";

/* A guess that matched gives its try back: only misses use a code up. */
static const char SQL_CODE_UNTRY[] =
	"UPDATE verification_codes SET attempts = attempts - 1 WHERE id = $1::int AND attempts > 0";

/* Six decimal digits, uniform, from the CSPRNG. */
static void code_new(char out[7])
{
	uint32_t v;
	do
		random_bytes(&v, sizeof v);
	while (v >= 4000000000u); /* a multiple of 10^6: no modulo bias */
	snprintf(out, 7, "%06u", v % 1000000u);
}

struct code_check {
	long long id, tries;
	bool expired;
	bool matched;
	bool found;
};

/*
 * Takes a try of the newest code of (email, type) and compares it in constant time; a code
 * with no try left is dead, as good as not found (its last try deletes it). -1 on database
 * error.
 */
static int code_check(struct ctx *c, const char *email, const char *type, const char *given,
		      struct code_check *out)
{
	PGresult *res;
	char max[24];
	snprintf(max, sizeof max, "%lld", cfg.code_max_attempts);
	const char *p[] = {email, type, max};
	*out = (struct code_check){0};
	if (db_query(c, Q_CODE_TRY, 3, p, &res))
		return -1;
	if (PQntuples(res) == 1) {
		out->found = true;
		out->id = atoll(PQgetvalue(res, 0, 0));
		const char *stored = PQgetvalue(res, 0, 1);
		out->matched = ct_equal(given, strlen(given), stored, strlen(stored));
		out->expired = PQgetvalue(res, 0, 2)[0] == 't';
		out->tries = atoll(PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	if (!out->matched || out->expired)
		return 0;
	char id[24];
	snprintf(id, sizeof id, "%lld", out->id);
	const char *pu[] = {id};
	if (db_query(c, Q_CODE_UNTRY, 1, pu, &res))
		return -1;
	PQclear(res);
	return 0;
}

static int code_delete(struct ctx *c, long long id, bool *deleted)
{
	char ids[24];
	snprintf(ids, sizeof ids, "%lld", id);
	const char *p[] = {ids};
	PGresult *res;
	if (db_query(c, Q_CODE_DELETE, 1, p, &res))
		return -1;
	if (deleted)
		*deleted = PQntuples(res) == 1;
	PQclear(res);
	return 0;
}

/* A wrong try was counted when it was taken; the last one the code had kills it. */
static int code_miss(struct ctx *c, const struct code_check *k)
{
	return k->tries >= cfg.code_max_attempts ? code_delete(c, k->id, NULL) : 0;
}

/* The texts of one kind of code: verification, recovery, or recovery inside reset-password. */
struct code_texts {
	const char *not_found, *expired, *invalid;
};

static const struct code_texts VERIFICATION_TEXTS = {
	"No verification code found for this email",
	"Verification code has expired. Please request a new one.", "Invalid verification code"};
static const struct code_texts RECOVERY_TEXTS = {"No recovery code found for this email",
						 "Recovery code has expired. Please request a new one.",
						 "Invalid recovery code"};
static const struct code_texts RESET_TEXTS = {"No recovery code found. Please request a new code.",
					      "Recovery code has expired. Please request a new one.",
					      "Invalid recovery code"};

/*
 * Checks `given` against the newest code of (email, type): 0 with *k filled when it matches;
 * otherwise the 400 is written (an expired code is deleted, a wrong try counted) and -1.
 */
static int code_verify(struct ctx *c, const char *email, const char *type, const char *given,
		       const struct code_texts *t, struct code_check *k)
{
	if (code_check(c, email, type, given, k))
		return -1;
	if (!k->found)
		resp_detail(c, 400, t->not_found);
	else if (k->expired && !code_delete(c, k->id, NULL))
		resp_detail(c, 400, t->expired);
	else if (!k->expired && !k->matched && !code_miss(c, k))
		resp_detail(c, 400, t->invalid);
	return k->found && !k->expired && k->matched ? 0 : -1;
}

/* The send routes' shared part: validate, rate-limit, store a fresh code and queue the mail. */
static int code_send(struct ctx *c, char *email, const char *code_type)
{
	if (!strchr(email, '@') || !strchr(email, '.')) {
		resp_detail(c, 400, "Invalid email format");
		return -1;
	}
	if (!mail_configured() && !cfg.dev) {
		resp_detail(c, 503, "Email delivery is not configured");
		return -1;
	}
	if (rate_check(c, &RATE_CODE_IP, c->client_key) || rate_check(c, &RATE_CODE_EMAIL, email))
		return -1;
	char code[7], ttl[24];
	code_new(code);
	snprintf(ttl, sizeof ttl, "%lld", cfg.code_ttl_seconds);
	const char *p[] = {email, code_type, code, ttl};
	PGresult *res;
	if (db_query(c, Q_CODE_REPLACE, 4, p, &res))
		return -1;
	PQclear(res);
	mail_code(c, email, code);
	return 0;
}

static void resp_sent(struct ctx *c, const char *what, const char *email)
{
	char *msg = arena_alloc(&c->arena, strlen(email) + 48);
	if (msg)
		sprintf(msg, "%s code sent to %s", what, email);
	resp_success(c, msg ? msg : "Code sent");
}

static void h_send_verification_code(struct ctx *c)
{
	char *email, *type;
	if (body_object(c))
		return;
	field_str(c, "email", 0, 0, 0, &email);
	field_str(c, "type", F_OPTIONAL, 0, 64, &type);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	email = str_lower(str_trim(email));
	if (!code_send(c, email, type ? type : "registration"))
		resp_sent(c, "Verification", email);
}

static void h_verify_code(struct ctx *c)
{
	char *email, *code, *type;
	if (body_object(c))
		return;
	field_str(c, "email", 0, 0, 0, &email);
	field_str(c, "code", 0, 0, 0, &code);
	field_str(c, "type", F_OPTIONAL, 0, 64, &type);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	struct code_check k;
	bool deleted = false;
	if (code_verify(c, str_lower(str_trim(email)), type ? type : "registration", str_trim(code),
			&VERIFICATION_TEXTS, &k) ||
	    code_delete(c, k.id, &deleted))
		return;
	if (deleted)
		resp_success(c, "Email verified successfully");
	else /* consumed by a parallel request */
		resp_detail(c, 400, VERIFICATION_TEXTS.not_found);
}

static const char SQL_USERS_BY_EMAIL[] =
	"SELECT id, username FROM users WHERE lower(email) = $1 ORDER BY id LIMIT 2";

static void h_send_recovery_code(struct ctx *c)
{
	char *email, *type;
	if (body_object(c))
		return;
	field_str(c, "email", 0, 0, 0, &email);
	field_str(c, "type", 0, 0, 64, &type);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	email = str_lower(str_trim(email));
	if (!strchr(email, '@') || !strchr(email, '.')) {
		resp_detail(c, 400, "Invalid email format");
		return;
	}
	PGresult *res;
	const char *p[] = {email};
	if (db_query(c, Q_USERS_BY_EMAIL, 1, p, &res))
		return;
	int n = PQntuples(res);
	PQclear(res);
	if (!n) {
		resp_detail(c, 404, "No account found with this email address");
		return;
	}
	char *code_type = arena_alloc(&c->arena, strlen(type) + 10);
	if (code_type && (sprintf(code_type, "recovery_%s", type), !code_send(c, email, code_type)))
		resp_sent(c, "Recovery", email);
}

static void h_verify_recovery_code(struct ctx *c)
{
	char *email, *code, *type;
	if (body_object(c))
		return;
	field_str(c, "email", 0, 0, 0, &email);
	field_str(c, "code", 0, 0, 0, &code);
	field_str(c, "type", 0, 0, 64, &type);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	email = str_lower(str_trim(email));
	char *code_type = arena_alloc(&c->arena, strlen(type) + 10);
	if (!code_type) {
		resp_internal_error(c, "out of memory");
		return;
	}
	sprintf(code_type, "recovery_%s", type);
	struct code_check k;
	if (code_verify(c, email, code_type, str_trim(code), &RECOVERY_TEXTS, &k))
		return;
	if (strcmp(type, "username")) { /* the code stays: reset-password needs it */
		resp_success(c, "Code verified successfully");
		return;
	}
	PGresult *res;
	const char *p[] = {email};
	if (db_query(c, Q_USERS_BY_EMAIL, 1, p, &res))
		return;
	char *name = PQntuples(res)
			     ? arena_strndup(&c->arena, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1))
			     : NULL;
	PQclear(res);
	if (!name) {
		resp_detail(c, 404, "User not found");
		return;
	}
	if (code_delete(c, k.id, NULL))
		return;
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "username", name);
	json_kv_str(b, "message", "Username recovered successfully");
	resp_end(c);
}

/* --- POST /auth/reset-password, change-password, change-username --- */

/* A new password ends every session of the user, and every token issued before it. */
static const char SQL_SET_PASSWORD[] =
	"WITH s AS (UPDATE sessions SET revoked_at = now() WHERE user_id = $1::int AND revoked_at IS NULL)"
	"UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1::int";
static const char SQL_USER_HASH[] =
	"SELECT password_hash, username, email, GREATEST(COALESCE(" SQL_LOCK_REMAINING ", 0), 0)"
	"  FROM users WHERE id = $1::int";

struct password_change {
	long long user_id, code_id;
	char *current, *next;
	struct login_form account; /* change-password: whose wrong tries count toward the lockout */
};

static void h_reset_password_commit(struct ctx *c);

static void h_reset_password(struct ctx *c)
{
	struct password_change *pc = arena_alloc(&c->arena, sizeof *pc);
	if (!pc || params_open(c))
		return;
	*pc = (struct password_change){0};
	c->state = pc;
	char *email = param_str(c, "email"), *code = param_str(c, "code");
	pc->next = param_str(c, "new_password");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	email = str_lower(str_trim(email));
	struct code_check k;
	if (code_verify(c, email, "recovery_password", str_trim(code), &RESET_TEXTS, &k))
		return;
	const char *weak = pw_change_error(pc->next);
	if (weak) {
		resp_detail(c, 400, weak);
		return;
	}
	PGresult *res;
	const char *p[] = {email};
	if (db_query(c, Q_USERS_BY_EMAIL, 1, p, &res))
		return;
	int n = PQntuples(res);
	pc->user_id = n ? atoll(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	if (n != 1) { /* DECISIONS P: reset changes exactly one account */
		resp_detail(c, n ? 409 : 404,
			    n ? "Several accounts use this e-mail address; contact support"
			      : "User not found");
		return;
	}
	pc->code_id = k.id;
	char account[32];
	snprintf(account, sizeof account, "uid:%lld", pc->user_id);
	bcrypt_request(c, account, pc->next, NULL, h_reset_password_commit);
}

static void h_reset_password_commit(struct ctx *c)
{
	struct password_change *pc = c->state;
	char id[24];
	snprintf(id, sizeof id, "%lld", pc->user_id);
	const char *p[] = {id, c->bcrypt.result};
	PGresult *res;
	bool deleted = false;
	if (!*c->bcrypt.result) {
		resp_internal_error(c, "bcrypt failed");
		return;
	}
	if (db_exec(c, "BEGIN") || code_delete(c, pc->code_id, &deleted))
		return;
	if (!deleted) { /* used by a parallel reset meanwhile */
		resp_detail(c, 400, RESET_TEXTS.not_found);
		return;
	}
	if (db_query(c, Q_SET_PASSWORD, 2, p, &res))
		return;
	PQclear(res);
	if (!db_exec(c, "COMMIT"))
		resp_success(c, "Password reset successfully");
}

static void h_change_password_verified(struct ctx *c);
static void h_change_password_commit(struct ctx *c);

/*
 * A wrong current password is a wrong password: it counts toward the account's lockout as a
 * failed login does (and a locked account gets 423 here too), and the route is rate-limited
 * per account, so it is no unlimited oracle for a stolen token.
 */
static void h_change_password(struct ctx *c)
{
	struct password_change *pc = arena_alloc(&c->arena, sizeof *pc);
	if (!pc || auth_require(c) || params_open(c))
		return;
	*pc = (struct password_change){.user_id = c->user.id};
	c->state = pc;
	pc->current = param_str(c, "current_password");
	pc->next = param_str(c, "new_password");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	const char *weak = pw_change_error(pc->next);
	if (weak) {
		resp_detail(c, 400, weak);
		return;
	}
	if (rate_check(c, &RATE_CHANGE_PASSWORD, c->token.id)) /* tries of the current password */
		return;
	const char *p[] = {c->token.id};
	PGresult *res;
	if (db_query(c, Q_USER_HASH, 1, p, &res))
		return;
	if (PQntuples(res) != 1) {
		PQclear(res);
		resp_detail(c, 404, "User not found");
		return;
	}
	char setting[BCRYPT_SETTING_MAX];
	snprintf(setting, sizeof setting, "%s", PQgetvalue(res, 0, 0));
	struct login_form *f = &pc->account;
	*f = (struct login_form){.id = pc->user_id, .fail_action = "change_password_failed"};
	f->username = f->stored_name =
		arena_strndup(&c->arena, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
	if (!PQgetisnull(res, 0, 2))
		f->email = arena_strndup(&c->arena, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
	long long remaining = atoll(PQgetvalue(res, 0, 3));
	PQclear(res);
	if (remaining > 0) {
		audit_login_failed(c, f, "account_locked", remaining / 60);
		resp_locked(c, remaining);
		return;
	}
	char account[32];
	snprintf(account, sizeof account, "uid:%s", c->token.id);
	bcrypt_request(c, account, pc->current, setting, h_change_password_verified);
}

static void h_change_password_verified(struct ctx *c)
{
	struct password_change *pc = c->state;
	if (!bcrypt_matched(c)) {
		password_failed(c, &pc->account, "Current password is incorrect");
		return;
	}
	/* as a login: a lock set while bcrypt ran still holds, and a right password resets the count */
	long long remaining;
	if (db_int(c, Q_LOGIN_OK, c->token.id, &remaining))
		return;
	if (remaining > 0) {
		audit_login_failed(c, &pc->account, "account_locked", remaining / 60);
		resp_locked(c, remaining);
		return;
	}
	char account[32];
	snprintf(account, sizeof account, "uid:%s", c->token.id);
	bcrypt_request(c, account, pc->next, NULL, h_change_password_commit);
}

static void h_change_password_commit(struct ctx *c)
{
	struct password_change *pc = c->state;
	char id[24];
	snprintf(id, sizeof id, "%lld", pc->user_id);
	const char *p[] = {id, c->bcrypt.result};
	PGresult *res;
	if (!*c->bcrypt.result) {
		resp_internal_error(c, "bcrypt failed");
		return;
	}
	if (db_query(c, Q_SET_PASSWORD, 2, p, &res))
		return;
	PQclear(res);
	resp_success(c, "Password changed successfully");
}

static const char SQL_USERNAME_TAKEN_BY_OTHER[] =
	"SELECT 1 FROM users WHERE lower(username) = $1 AND id <> $2::int LIMIT 1";
static const char SQL_USERNAME_SET[] = "UPDATE users SET username = $2 WHERE id = $1::int";

/* change-username's rule: alphanumeric (Unicode) once `_` and `.` are taken out. */
static bool username_chars_ok(const char *name)
{
	size_t n = strlen(name), count = 0;
	for (size_t i = 0; i < n;) {
		unsigned cp;
		i += utf8_decode((const unsigned char *)name + i, n - i, &cp);
		if (cp == '_' || cp == '.')
			continue;
		if (!iswalnum(cp))
			return false;
		count++;
	}
	return count > 0;
}

/* Lower-cases ASCII and, through towlower, the rest of Unicode (Python's str.lower, mostly). */
static char *utf8_lower(struct arena *a, const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = arena_alloc(a, n * 2 + 1);
	for (size_t i = 0; out && i < n;) {
		unsigned cp;
		size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (k == 1 && cp >= 0x80)
			out[o++] = s[i]; /* not UTF-8: the caller validated, so never here */
		else
			o += utf8_put(out + o, (unsigned)towlower(cp));
		i += k;
	}
	if (out)
		out[o] = 0;
	return out;
}

static void h_change_username(struct ctx *c)
{
	if (auth_require(c) || params_open(c))
		return;
	char *name = param_str(c, "new_username");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	name = utf8_lower(&c->arena, name); /* not trimmed, as the original */
	size_t cps = name ? utf8_len(name, strlen(name)) : 0;
	if (!name || cps < 3 || cps > 20) {
		resp_detail(c, 400, "Username must be 3-20 characters");
		return;
	}
	if (!username_chars_ok(name)) {
		resp_detail(c, 400, "Username can only contain letters, numbers, underscores, and periods");
		return;
	}
	char id[24];
	snprintf(id, sizeof id, "%lld", c->user.id);
	const char *pt[] = {name, id}, *pu[] = {id, name};
	PGresult *res;
	if (db_exec(c, "BEGIN") || db_xact_lock(c, "username", name))
		return;
	if (db_query(c, Q_USERNAME_TAKEN_BY_OTHER, 2, pt, &res))
		return;
	bool taken = PQntuples(res) > 0;
	PQclear(res);
	if (taken) {
		resp_detail(c, 400, "Username already taken");
		return;
	}
	if (db_query(c, Q_USERNAME_SET, 2, pu, &res))
		return;
	PQclear(res);
	if (db_exec(c, "COMMIT"))
		return;
	char *token = jwt_issue(c, c->user.id, name, false, c->token.sid);
	if (!token) {
		resp_internal_error(c, "token signing failed");
		return;
	}
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message", "Username changed successfully");
	json_kv_str(b, "token", token);
	json_kv_str(b, "username", name);
	resp_end(c);
}

/* --- Admin: unlock-account and rotate-keys (DECISIONS S2, P) --- */

/* The `secret` header against ADMIN_SECRET, in constant time; 403 otherwise. */
static int admin_require(struct ctx *c)
{
	struct slice s = http_header(c->req, "secret");
	if (s.n && digest_matches(s.p, s.n, cfg.admin_digest))
		return 0;
	resp_detail(c, 403, "Forbidden");
	return -1;
}

static const char SQL_UNLOCK[] =
	"UPDATE users SET failed_login_attempts = 0, locked_until = NULL WHERE lower(username) = $1"
	" RETURNING username";

static void h_unlock_account(struct ctx *c)
{
	if (admin_require(c) || body_object(c))
		return;
	char *name = NULL;
	int i = json_get(&c->json, 0, "username");
	size_t len;
	if (json_kind(&c->json, i) == JK_STRING)
		name = json_string(&c->json, i, &c->arena, &len);
	if (!name || !*str_trim(name)) {
		resp_detail(c, 400, "Username is required");
		return;
	}
	name = str_lower(str_trim(name));
	PGresult *res;
	const char *p[] = {name};
	if (db_query(c, Q_UNLOCK, 1, p, &res))
		return;
	int n = PQntuples(res);
	char *stored =
		n ? arena_strndup(&c->arena, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)) : NULL;
	PQclear(res);
	struct buf d = audit_begin();
	audit_str(&d, "username", name);
	audit_bool(&d, "found", n > 0);
	audit_write(c, 0, "admin_unlock_account", &d);
	if (!stored) {
		resp_detail(c, 404, "User not found");
		return;
	}
	char msg[128];
	snprintf(msg, sizeof msg, "Account '%s' has been unlocked successfully", stored);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message", msg);
	json_kv_str(b, "username", stored);
	resp_end(c);
}

/* Advice only, as the original, but never the live secret (DECISIONS S2, P). */
static void h_rotate_keys(struct ctx *c)
{
	if (admin_require(c))
		return;

	unsigned char raw[32];
	char fresh[48], step[160];
	random_bytes(raw, sizeof raw);
	b64url_encode(fresh, raw, sizeof raw);
	long long v = cfg.jwt_key_version;
	struct buf d = audit_begin();
	audit_int(&d, "current_key_version", v);
	audit_int(&d, "new_key_version", v + 1);
	audit_write(c, 0, "admin_rotate_keys", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message",
		    "Key rotation prepared. Update environment variables to complete rotation.");
	json_kv_int(b, "current_key_version", v);
	json_kv_int(b, "new_key_version", v + 1);
	json_kv_str(b, "new_jwt_secret", fresh);
	json_kv_str(b, "previous_jwt_secret", "(not disclosed)");
	json_key(b, "instructions");
	buf_addc(b, '{');
	json_kv_str(b, "step_1", "Set PREVIOUS_JWT_SECRET_KEY to the current value of JWT_SECRET_KEY");
	json_kv_str(b, "step_2", "Set JWT_SECRET_KEY to new_jwt_secret from this response");
	snprintf(step, sizeof step, "Set JWT_KEY_VERSION to %lld", v + 1);
	json_kv_str(b, "step_3", step);
	json_kv_str(b, "step_4", "Redeploy every replica (a rolling deploy keeps the service up)");
	json_kv_str(b, "step_5",
		    "Keep PREVIOUS_JWT_SECRET_KEY for the grace period: tokens of the old key still work");
	json_kv_str(b, "step_6",
		    "Remove PREVIOUS_JWT_SECRET_KEY and redeploy; tokens of the old key stop working");
	json_kv_str(b, "warning",
		    "This response is the only place the new secret appears; do not log or share it");
	buf_addc(b, '}');
	snprintf(step, sizeof step,
		 "Tokens signed with the previous key stay valid while PREVIOUS_JWT_SECRET_KEY is set, at "
		 "most %lld days",
		 cfg.access_token_expire_days);
	json_kv_str(b, "grace_period_note", step);
	resp_end(c);
}

/* ==== 15. Handlers: devices, profile, settings, zones, pins, deletion, telemetry === */

/* --- Shared pieces --- */

/* Python's repr() of a float: the shortest text that reads back, "18.0" for whole numbers. */
static void json_py_float(struct buf *b, double v)
{
	char s[40];
	if (!isfinite(v)) { /* an old row may hold NaN or Infinity; JSON has no such numbers */
		buf_adds(b, "null");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(s, sizeof s, "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	buf_adds(b, s);
	if (!strpbrk(s, ".eni")) /* not 1e+16, inf or nan */
		buf_adds(b, ".0");
}

/*
 * The same for a float8 as PostgreSQL sent it. A plain decimal of at most 15 significant
 * digits, without trailing zeros and between 1e-4 and 1e15, is exactly what "%.15g" prints
 * for the double it reads as (DBL_DIG), so it is copied; anything else (exponents, NaN, 17
 * digits) goes the long way. Rows of devices are mostly such numbers, and the long way costs a
 * printf and a strtod each.
 */
static void json_py_float_text(struct buf *b, const char *s)
{
	const char *p = s + (*s == '-');
	size_t int_n = strspn(p, "0123456789");
	bool point = p[int_n] == '.';
	const char *frac = p + int_n + point;
	size_t frac_n = strspn(frac, "0123456789");
	size_t lead = p[0] == '0' ? 1 + strspn(frac, "0") : 0; /* "0." and the zeros after it */
	bool plain = int_n && !frac[frac_n] && (!point || (frac_n && frac[frac_n - 1] != '0')) &&
		     (int_n == 1 || p[0] != '0') && int_n <= 15 && int_n + frac_n - lead <= 15 &&
		     !(p[0] == '0' && frac_n && strspn(frac, "0") >= 4);
	if (!plain) {
		json_py_float(b, strtod(s, NULL));
		return;
	}
	buf_add(b, s, (size_t)(frac + frac_n - s));
	if (!point)
		buf_adds(b, ".0");
}

/* A path parameter that must be an int (PostgreSQL INTEGER); 422 in the original's shape. */
static int path_int(struct ctx *c, int index, const char *field, long long *out)
{
	struct slice p = c->params[index];
	char tmp[16];
	if (p.n && p.n < sizeof tmp) {
		memcpy(tmp, p.p, p.n);
		tmp[p.n] = 0;
		if (parse_int(tmp, INT32_MIN, INT32_MAX, out))
			return 0;
	}
	verr_add(c, field, "Input should be a valid integer, unable to parse string as an integer");
	resp_validation(c);
	return -1;
}

/* A whole number, laxly as pydantic reads it: 42, 42.0 or "42". */
static int field_int(struct ctx *c, const char *key, bool required, long long min, long long max,
		     long long *out, bool *present)
{
	int i = json_get(&c->json, 0, key);
	enum json_kind k = json_kind(&c->json, i);
	*present = i >= 0 && k != JK_NULL;
	if (!*present) {
		if (required)
			verr_add(c, key, i < 0 ? "Field required" : "Input should be a valid integer");
		return required ? -1 : 0;
	}
	double d;
	size_t len;
	char *s = k == JK_STRING ? json_string(&c->json, i, &c->arena, &len) : NULL;
	if (json_int(&c->json, i, out)) {
	} else if (json_double(&c->json, i, &d)) {
		if (!isfinite(d) || d != floor(d)) {
			verr_add(c, key,
				 "Input should be a valid integer, got a number with a fractional part");
			return -1;
		}
		/* a whole number too large for long long is out of any range we allow */
		*out = d < (double)LLONG_MIN / 2   ? LLONG_MIN / 2
		       : d > (double)LLONG_MAX / 2 ? LLONG_MAX / 2
						   : (long long)d;
	} else if (s && parse_int(str_trim(s), LLONG_MIN, LLONG_MAX, out)) {
	} else {
		verr_add(c, key,
			 s ? "Input should be a valid integer, unable to parse string as an integer"
			   : "Input should be a valid integer");
		return -1;
	}
	if (*out < min || *out > max) {
		char *msg = arena_alloc(&c->arena, 64);
		if (msg)
			snprintf(msg, 64, "Input should be %s than or equal to %lld",
				 *out < min ? "greater" : "less", *out < min ? min : max);
		verr_add(c, key, msg ? msg : "Input out of range");
		return -1;
	}
	return 0;
}

/* A number, laxly: 1, 1.5 or "1.5"; finite and within [min, max]. */
static int field_number(struct ctx *c, const char *key, double min, double max, double *out, bool *present)
{
	int i = json_get(&c->json, 0, key);
	enum json_kind k = json_kind(&c->json, i);
	*present = i >= 0 && k != JK_NULL;
	if (k == JK_NULL) {
		verr_add(c, key, "Input should be a valid number");
		return -1;
	}
	if (!*present)
		return 0;
	size_t len;
	char *s = k == JK_STRING ? json_string(&c->json, i, &c->arena, &len) : NULL, *end = NULL;
	if (!json_double(&c->json, i, out)) {
		s = s ? str_trim(s) : NULL; /* pydantic strips a string, then parses what is left */
		if (s)
			*out = strtod(s, &end);
		if (!s || end == s || *end || !*s) {
			verr_add(c, key,
				 s ? "Input should be a valid number, unable to parse string as a number"
				   : "Input should be a valid number");
			return -1;
		}
	}
	if (!(*out >= min)) { /* also catches nan */
		verr_add(c, key,
			 min == 0 ? "Input should be greater than or equal to 0" : "Input out of range");
		return -1;
	}
	if (!(*out <= max)) {
		char *msg = arena_alloc(&c->arena, 64);
		if (msg)
			snprintf(msg, 64, "Input should be less than or equal to %g", max);
		verr_add(c, key, msg ? msg : "Input out of range");
		return -1;
	}
	return 0;
}

/* Python-style truthiness of a JSON value, for the original's `1 if x else 0`. */
static bool json_truthy(const struct json *j, int i)
{
	switch (json_kind(j, i)) {
	case JK_TRUE: return true;
	case JK_STRING: return j->t[i].end > j->t[i].start;
	case JK_OBJECT:
	case JK_ARRAY: return j->t[i].size > 0;
	case JK_NUMBER: {
		double d = 0;
		json_double(j, i, &d);
		return d != 0;
	}
	default: return false;
	}
}

/* The raw JSON text of token i, in the arena. */
static char *json_raw(struct ctx *c, int i)
{
	const jsmntok_t *t = &c->json.t[i];
	int start = t->start - (t->type == JSMN_STRING), end = t->end + (t->type == JSMN_STRING);
	return arena_strndup(&c->arena, c->json.s + start, (size_t)(end - start));
}

/* Stored JSON text goes out as JSON when it is JSON (it may be anything in an old database). */
static void json_kv_stored_json(struct ctx *c, struct buf *b, const char *key, const PGresult *res, int row,
				int col)
{
	json_key(b, key);
	struct json j;
	const char *v = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col);
	bool ok = !PQgetisnull(res, row, col) && !json_parse(&c->arena, v, n, &j);
	for (int i = 0; ok && i < j.n; i++) { /* a lone surrogate escape is JSON, not Unicode */
		size_t len;
		ok = json_kind(&j, i) != JK_STRING || json_string(&j, i, &c->arena, &len);
	}
	if (ok)
		buf_add(b, v, n);
	else
		buf_adds(b, "null");
}

static void json_kv_nullable(struct buf *b, const char *key, const PGresult *res, int row, int col)
{
	json_key(b, key);
	if (PQgetisnull(res, row, col))
		buf_adds(b, "null");
	else
		json_str(b, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/* Latin-1's named character references, U+00A0 to U+00FF in order. */
static const char *const HTML_LATIN1[] = {
	"nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",
	"ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",
	"acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12",
	"frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil",
	"Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde",
	"Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",
	"Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
	"aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",
	"eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
	"uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml",
};

static const struct {
	const char *name;
	unsigned cp;
} HTML_OTHER[] = {{"amp", '&'},      {"lt", '<'},       {"gt", '>'},        {"quot", '"'},
		  {"apos", '\''},    {"euro", 0x20ac},  {"hellip", 0x2026}, {"mdash", 0x2014},
		  {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201c},
		  {"rdquo", 0x201d}, {"bull", 0x2022},  {"trade", 0x2122}};

/*
 * One character reference at s ("&...;"): its length, with the code point in *cp; 0 when s
 * is not one. Numeric references to nothing (NUL, surrogates, past U+10FFFF) give U+FFFD,
 * as Python's html.unescape does.
 */
static size_t html_entity(const char *s, unsigned *cp)
{
	const char *semi = strchr(s, ';');
	if (!semi || semi - s > 12 || semi - s < 3)
		return 0;
	size_t n = (size_t)(semi - s) + 1;
	if (s[1] == '#') {
		bool hex = s[2] == 'x' || s[2] == 'X';
		char *end;
		unsigned long v = strtoul(s + 2 + hex, &end, hex ? 16 : 10);
		if (end != semi || end == s + 2 + hex)
			return 0;
		*cp = !v || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0xfffd : (unsigned)v;
		return n;
	}
	for (size_t i = 0; i < sizeof HTML_LATIN1 / sizeof HTML_LATIN1[0]; i++)
		if (strlen(HTML_LATIN1[i]) == n - 2 && !strncmp(s + 1, HTML_LATIN1[i], n - 2))
			return *cp = 0xa0 + (unsigned)i, n;
	for (size_t i = 0; i < sizeof HTML_OTHER / sizeof HTML_OTHER[0]; i++)
		if (strlen(HTML_OTHER[i].name) == n - 2 && !strncmp(s + 1, HTML_OTHER[i].name, n - 2))
			return *cp = HTML_OTHER[i].cp, n;
	return 0;
}

/*
 * Removes every <[^>]+> in place; returns the new length. Linear: the next '>' is found once
 * and reused by every '<' before it (a text of many '<' and no '>' must not cost n^2).
 */
static size_t strip_tags(char *s)
{
	size_t o = 0;
	const char *gt = strchr(s, '>');
	for (size_t i = 0; s[i]; i++) {
		while (gt && gt <= s + i)
			gt = strchr(gt + 1, '>');
		if (s[i] == '<' && gt && gt > s + i + 1) {
			i = (size_t)(gt - s);
			continue;
		}
		s[o++] = s[i];
	}
	s[o] = 0;
	return o;
}

/*
 * The original's sanitiser for device text (ORIGINAL_API 4.5): tags removed, then HTML
 * entities decoded, then trimmed. The regex "injection" filters are gone (DECISIONS F). What
 * is stored is what gets validated: tags that entities spelled (&lt;b&gt;) are removed too,
 * and the caller checks the result for control characters that entities spelled (&#1;).
 */
static char *sanitise(struct arena *a, const char *s)
{
	char *out = arena_strndup(a, s, strlen(s));
	if (!out)
		return NULL;
	size_t o = strip_tags(out), w = 0;
	for (size_t r = 0; r < o;) {
		unsigned cp;
		size_t used = out[r] == '&' ? html_entity(out + r, &cp) : 0;
		if (used) {
			w += utf8_put(out + w, cp); /* never longer than the entity it replaces */
			r += used;
		} else {
			out[w++] = out[r++];
		}
	}
	out[w] = 0;
	strip_tags(out);
	return str_trim(out);
}

/* Sanitised device text that entities turned into control characters is refused (422). */
static void sanitised_controls(struct ctx *c, const char *key, const char *s, unsigned flags)
{
	if (s && !(flags & F_CONTROL) && has_control_chars(s, strlen(s), flags & F_MULTILINE))
		verr_add(c, key, verr_value(c, "Control characters are not allowed"));
}

static void id_text(char out[24], long long id) { snprintf(out, 24, "%lld", id); }

/* A statement whose one parameter is the caller's user id. */
static int db_query_uid(struct ctx *c, enum pg_stmt q, PGresult **res)
{
	char uid[24];
	id_text(uid, c->user.id);
	const char *p[] = {uid};
	return db_query(c, q, 1, p, res);
}

/* --- Devices (ORIGINAL_API 3.3) --- */

#define SQL_DEVICE_COLUMNS                                                                                   \
	"id, name, rssi, distance_feet, action, timestamp, phone_number, email, bio, social_media"

/*
 * POST /devices in one statement: the caller's device of that name (the oldest, should there
 * be two) is updated, or a new one inserted; either way the row comes back.
 */
static const char SQL_DEVICE_SAVE[] =
	"WITH found AS (SELECT id FROM devices WHERE user_id = $1::int AND name = $2 ORDER BY id LIMIT 1),"
	" changed AS (UPDATE devices SET rssi = $3::int, distance_feet = $4::float8, action = $5,"
	"                    timestamp = $6, phone_number = $7, email = $8, bio = $9, social_media = $10"
	"              WHERE id = (SELECT id FROM found) RETURNING " SQL_DEVICE_COLUMNS ", user_id),"
	" added AS (INSERT INTO devices (user_id, name, rssi, distance_feet, action, timestamp,"
	"                                phone_number, email, bio, social_media)"
	"            SELECT $1::int, $2, $3::int, $4::float8, $5, $6, $7, $8, $9, $10"
	"             WHERE NOT EXISTS (SELECT 1 FROM found)"
	"            RETURNING " SQL_DEVICE_COLUMNS ", user_id)"
	" SELECT * FROM changed UNION ALL SELECT * FROM added";
static const char SQL_DEVICES_LIST[] = "SELECT " SQL_DEVICE_COLUMNS " FROM devices WHERE user_id = $1::int"
				       " ORDER BY timestamp DESC NULLS LAST, id DESC";
static const char SQL_DEVICE_GET[] = "SELECT " SQL_DEVICE_COLUMNS ", user_id FROM devices WHERE id = $1::int";
static const char SQL_DEVICE_DELETE[] =
	"WITH gone AS (DELETE FROM devices WHERE id = $1::int AND user_id = $2::int RETURNING id)"
	" DELETE FROM pinned_contacts p USING gone WHERE p.user_id = $2::int AND p.device_id = gone.id";

static void json_device(struct ctx *c, struct buf *b, const PGresult *res, int row)
{
	buf_addc(b, '{');
	json_kv_int(b, "id", atoll(PQgetvalue(res, row, 0)));
	json_kv_nullable(b, "name", res, row, 1);
	json_kv_int(b, "rssi", atoll(PQgetvalue(res, row, 2)));
	json_key(b, "distanceFeet");
	json_py_float_text(b, PQgetvalue(res, row, 3));
	json_kv_nullable(b, "action", res, row, 4);
	json_kv_nullable(b, "timestamp", res, row, 5);
	json_kv_nullable(b, "phoneNumber", res, row, 6);
	json_kv_nullable(b, "email", res, row, 7);
	json_kv_nullable(b, "bio", res, row, 8);
	json_kv_stored_json(c, b, "socialMedia", res, row, 9);
	buf_addc(b, '}');
}

struct device_form {
	char *name, *action, *timestamp, *phone, *email, *bio, *social;
	long long rssi;
	double distance;
};

/* A text field that is sanitised and length-checked after sanitising. */
static void field_device_text(struct ctx *c, const char *key, size_t max, unsigned flags, char **out)
{
	if (field_str(c, key, F_OPTIONAL | flags, 0, 0, out) || !*out)
		return;
	*out = sanitise(&c->arena, *out);
	sanitised_controls(c, key, *out, flags);
	if (*out && utf8_len(*out, strlen(*out)) > max)
		verr_add(c, key, "Must be at most allowed characters");
}

/* The device name: required; numbers and booleans are taken as their text, as str(v) did. */
static void field_device_name(struct ctx *c, char **out)
{
	int i = json_get(&c->json, 0, "name");
	enum json_kind k = json_kind(&c->json, i);
	*out = NULL;
	if (k == JK_NUMBER)
		*out = json_raw(c, i);
	else if (k == JK_TRUE || k == JK_FALSE)
		*out = k == JK_TRUE ? "True" : "False";
	else if (field_str(c, "name", 0, 0, 0, out))
		return;
	*out = *out ? sanitise(&c->arena, *out) : NULL;
	sanitised_controls(c, "name", *out, 0);
	size_t n = *out ? utf8_len(*out, strlen(*out)) : 0;
	if (n < 1 || n > 100)
		verr_add(c, "name",
			 n < 1 ? "Must be at least required characters"
			       : "Must be at most allowed characters");
}

/* socialMedia: a list of objects, kept as its JSON text. */
static void field_social(struct ctx *c, const char *key, char **out)
{
	int i = json_get(&c->json, 0, key);
	enum json_kind k = json_kind(&c->json, i);
	*out = NULL;
	if (i < 0 || k == JK_NULL)
		return;
	if (k != JK_ARRAY) {
		verr_add(c, key, "Input should be a valid list");
		return;
	}
	for (int e = i + 1, left = c->json.t[i].size, n = 0; left > 0; left--, n++) {
		if (json_kind(&c->json, e) != JK_OBJECT) {
			char *field = arena_alloc(&c->arena, 48);
			if (field)
				snprintf(field, 48, "%s -> %d", key, n);
			verr_add(c, field ? field : key, "Input should be a valid dictionary");
			return;
		}
		e = json_skip(&c->json, e);
	}
	*out = json_raw(c, i);
}

/* (XXX) XXX-XXXX from exactly ten digits, else NULL. */
static char *phone_format(struct arena *a, const char *s)
{
	char d[11];
	size_t n = 0;
	for (; *s; s++)
		if (*s >= '0' && *s <= '9') {
			if (n == 10)
				return NULL;
			d[n++] = *s;
		}
	if (n != 10)
		return NULL;
	char *out = arena_alloc(a, 16);
	if (out)
		snprintf(out, 16, "(%.3s) %.3s-%.4s", d, d + 3, d + 6);
	return out;
}

static int device_form_read(struct ctx *c, struct device_form *f)
{
	bool present;
	*f = (struct device_form){0};
	field_device_name(c, &f->name);
	field_int(c, "rssi", true, INT32_MIN, INT32_MAX, &f->rssi, &present);
	/* DECISIONS C2: the app's restore path sends distanceFeet */
	const char *dkey = json_get(&c->json, 0, "distance") >= 0 ? "distance" : "distanceFeet";
	if (!field_number(c, dkey, 0, 1000, &f->distance, &present) && !present)
		verr_add(c, "distance", "Field required");
	field_device_text(c, "action", 50, 0, &f->action);
	if (!f->action && json_kind(&c->json, json_get(&c->json, 0, "action")) != JK_NULL)
		f->action = "dropped"; /* the default; an explicit null stays null */
	field_str(c, "timestamp", F_OPTIONAL, 0, 50, &f->timestamp);
	if (!field_str(c, "phoneNumber", F_OPTIONAL, 0, 64, &f->phone) && f->phone && *f->phone) {
		f->phone = phone_format(&c->arena, f->phone);
		if (!f->phone)
			verr_add(c, "phoneNumber", "Value error, Phone number must be exactly 10 digits");
	} else if (f->phone && !*f->phone) {
		f->phone = NULL;
	}
	if (!field_str(c, "email", F_OPTIONAL, 0, 0, &f->email) && f->email && *f->email) {
		f->email = str_lower(str_trim(f->email));
		if (strlen(f->email) > 100 || !email_valid(f->email))
			verr_add(c, "email", "Value error, Invalid email format");
	} else if (f->email && !*f->email) {
		f->email = NULL;
	}
	field_device_text(c, "bio", 500, F_MULTILINE, &f->bio);
	field_social(c, "socialMedia", &f->social);
	if (c->n_verrs) {
		resp_validation(c);
		return -1;
	}
	return 0;
}

/* Naive UTC now, the original's default device timestamp. */
static char *utc_naive_now(struct arena *a)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char *out = arena_alloc(a, 32);
	if (out) {
		size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(out + n, 32 - n, ".%06ld", ts.tv_nsec / 1000);
	}
	return out;
}

/*
 * POST /devices: an upsert by (user, name) under a lock, so two replicas cannot both insert.
 * After the token check: the form, then the transaction's steps before COMMIT (BEGIN, the
 * lock, the upsert that returns the row); their count, or -1 with the response written.
 * The event loop sends them in the session check's pipeline (loop_write_begin), a worker
 * in one pipeline with COMMIT.
 */
enum { DEVICE_SAVE_STEPS = 3 };
static int device_save_steps(struct ctx *c, struct db_step *s)
{
	struct device_form f;
	if (body_object(c) || device_form_read(c, &f))
		return -1;
	if (json_get(&c->json, 0, "timestamp") < 0) /* absent: now; an explicit null stays null */
		f.timestamp = utc_naive_now(&c->arena);
	char *text = arena_alloc(&c->arena, 24 + 24 + 40 + 40);
	const char **p = arena_alloc(&c->arena, 10 * sizeof *p);
	if (!text || !p) {
		resp_internal_error(c, "out of memory");
		return -1;
	}
	char *uid = text, *rssi = text + 24, *dist = text + 48, *kind = text + 88;
	id_text(uid, c->user.id);
	id_text(rssi, f.rssi);
	snprintf(dist, 40, "%.17g", f.distance);
	snprintf(kind, 40, "device:%lld", c->user.id);
	const char *v[] = {uid, f.name, rssi, dist, f.action, f.timestamp, f.phone, f.email, f.bio, f.social};
	memcpy(p, v, sizeof v);
	s[0] = (struct db_step){.sql = "BEGIN"};
	s[2] = (struct db_step){.q = Q_DEVICE_SAVE, .n = 10, .params = p};
	return xact_lock_step(c, &s[1], kind, f.name) ? -1 : DEVICE_SAVE_STEPS;
}

/* The saved row, from the upsert's result (s[2]), once COMMIT went through. */
static void device_save_done(struct ctx *c, struct db_step *s)
{
	if (PQntuples(s[2].res) == 1) {
		c->status = 200;
		c->ctype = "application/json";
		json_device(c, &c->body, s[2].res, 0);
	} else {
		resp_internal_error(c, "device upsert returned no row");
	}
}

static void h_device_save(struct ctx *c)
{
	struct db_step s[DEVICE_SAVE_STEPS + 1];
	if (auth_require(c) || device_save_steps(c, s) < 0)
		return;
	s[DEVICE_SAVE_STEPS] = (struct db_step){.sql = "COMMIT"};
	if (db_steps(c, s, DEVICE_SAVE_STEPS + 1))
		return;
	device_save_done(c, s);
	db_steps_clear(s, DEVICE_SAVE_STEPS + 1);
}

/*
 * The R_READ routes: one statement run with the caller's id, its rows rendered by the
 * route's `render`. The event loop serves them itself when it can (loop_read_start); this is
 * the same on a worker.
 */
static void h_user_read(struct ctx *c)
{
	if (c->loop_result) { /* the loop read the rows and judged the session: only rendering is left */
		c->route->render(c, c->loop_result);
		return;
	}
	if (auth_require(c))
		return;
	PGresult *res;
	if (db_query_uid(c, (enum pg_stmt)c->route->read_q, &res))
		return;
	c->route->render(c, res);
	PQclear(res);
}

/* One of the caller's collections: each row of `res` written by `row`, in a JSON array. */
typedef void (*row_writer)(struct ctx *c, struct buf *b, const PGresult *res, int row);

static void resp_rows(struct ctx *c, PGresult *res, row_writer row)
{
	c->status = 200;
	c->ctype = "application/json";
	buf_addc(&c->body, '[');
	for (int i = 0; i < PQntuples(res); i++) {
		if (i)
			buf_addc(&c->body, ',');
		row(c, &c->body, res, i);
	}
	buf_addc(&c->body, ']');
}

static void render_devices(struct ctx *c, PGresult *res) { resp_rows(c, res, json_device); }

/* The device of the path, owned by the caller; else the 404 or 403 is written. */
static PGresult *device_owned(struct ctx *c, const char *forbidden)
{
	long long id;
	char did[24];
	if (auth_require(c) || path_int(c, 0, "device_id", &id))
		return NULL;
	id_text(did, id);
	const char *p[] = {did};
	PGresult *res;
	if (db_query(c, Q_DEVICE_GET, 1, p, &res))
		return NULL;
	if (PQntuples(res) != 1) {
		resp_detail(c, 404, "Device not found");
	} else if (PQgetisnull(res, 0, 10) || atoll(PQgetvalue(res, 0, 10)) != c->user.id) {
		resp_detail(c, 403, forbidden);
	} else {
		return res;
	}
	PQclear(res);
	return NULL;
}

static void h_device_get(struct ctx *c)
{
	PGresult *res = device_owned(c, "Not authorized to access this device");
	if (!res)
		return;
	c->status = 200;
	c->ctype = "application/json";
	json_device(c, &c->body, res, 0);
	PQclear(res);
}

static void h_device_delete(struct ctx *c)
{
	PGresult *res = device_owned(c, "Not authorized to delete this device");
	if (!res)
		return;
	char uid[24];
	id_text(uid, c->user.id);
	const char *p[] = {PQgetvalue(res, 0, 0), uid};
	PGresult *del;
	int rc = db_query(c, Q_DEVICE_DELETE, 2, p, &del);
	PQclear(res);
	if (rc)
		return;
	PQclear(del);
	json_kv_str(resp_json(c, 200), "message", "Device deleted successfully");
	resp_end(c);
}

/* --- Profile (ORIGINAL_API 3.4, DECISIONS C2, F, P) --- */

static const char SQL_PROFILE_GET[] =
	"SELECT u.username, COALESCE(NULLIF(p.email, ''), u.email), p.name, p.phone, p.profile_photo,"
	"       COALESCE(p.has_completed_onboarding, 0) <> 0,"
	"       to_char(u.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS') ||"
	"         CASE WHEN extract(microseconds FROM u.created_at)::bigint % 1000000 <> 0"
	"              THEN to_char(u.created_at, '.US') ELSE '' END,"
	"       p.bio, p.social_media"
	"  FROM users u LEFT JOIN user_profiles p ON p.user_id = u.id WHERE u.id = $1::int";

static void render_profile(struct ctx *c, PGresult *res)
{
	if (PQntuples(res) != 1) {
		resp_detail(c, 404, "User not found");
		return;
	}
	struct buf *b = resp_json(c, 200);
	json_kv_nullable(b, "username", res, 0, 0);
	json_kv_nullable(b, "email", res, 0, 1);
	json_kv_nullable(b, "name", res, 0, 2);
	json_kv_nullable(b, "phone", res, 0, 3);
	json_kv_nullable(b, "profilePhoto", res, 0, 4);
	json_kv_nullable(b, "profile_photo", res, 0, 4);
	json_kv_bool(b, "hasCompletedOnboarding", PQgetvalue(res, 0, 5)[0] == 't');
	json_kv_nullable(b, "createdAt", res, 0, 6);
	json_kv_nullable(b, "bio", res, 0, 7);
	json_kv_stored_json(c, b, "socialMedia", res, 0, 8);
	resp_end(c);
}

/*
 * A merge (DECISIONS F): each column changes only when its key is in the body ($2, $4...
 * say which); an explicit null clears it. The photo is never touched here.
 */
static const char SQL_PROFILE_SAVE[] =
	"INSERT INTO user_profiles (user_id, name, email, phone, bio, social_media, has_completed_onboarding)"
	" VALUES ($1::int, $3, $5, $7, $9, $11, COALESCE($13::int, 0))"
	" ON CONFLICT (user_id) DO UPDATE SET"
	"   name = CASE WHEN $2::bool THEN EXCLUDED.name ELSE user_profiles.name END,"
	"   email = CASE WHEN $4::bool THEN EXCLUDED.email ELSE user_profiles.email END,"
	"   phone = CASE WHEN $6::bool THEN EXCLUDED.phone ELSE user_profiles.phone END,"
	"   bio = CASE WHEN $8::bool THEN EXCLUDED.bio ELSE user_profiles.bio END,"
	"   social_media = CASE WHEN $10::bool THEN EXCLUDED.social_media ELSE user_profiles.social_media "
	"END,"
	"   has_completed_onboarding = CASE WHEN $12::bool THEN EXCLUDED.has_completed_onboarding"
	"                                   ELSE user_profiles.has_completed_onboarding END";
static const char SQL_PHONE_TAKEN_BY_OTHER[] =
	"SELECT 1 FROM user_profiles WHERE phone = $1 AND user_id <> $2::int LIMIT 1";
static const char SQL_EMAIL_TAKEN_BY_OTHER[] =
	"SELECT 1 FROM users WHERE lower(email) = $1 AND id <> $2::int"
	" UNION ALL SELECT 1 FROM user_profiles WHERE lower(email) = $1 AND user_id <> $2::int LIMIT 1";

struct profile_field {
	const char *key;
	size_t max;
	bool set;
	char *value;
};

/*
 * Taken by another account? Checked under a lock on the value, so two replicas cannot both
 * win: adds the lock and the check to the pipeline being built at s[*n].
 */
static int profile_unique_steps(struct ctx *c, struct db_step *s, int *n, enum pg_stmt q, const char *kind,
				const char *value, const char *uid)
{
	const char **p = arena_alloc(&c->arena, 2 * sizeof *p);
	if (!p || xact_lock_step(c, &s[*n], kind, value)) {
		if (!p)
			resp_internal_error(c, "out of memory");
		return -1;
	}
	p[0] = value;
	p[1] = uid;
	s[*n + 1] = (struct db_step){.q = q, .n = 2, .params = p};
	*n += 2;
	return 0;
}

/* POST /user/profile's body, read and checked, with the change's parameters and audit row. */
struct profile_save {
	char uid[24];
	char *phone, *email; /* digits only; lower case, trailing blanks cut (NULL or "": not given) */
	char *email_key;     /* the e-mail trimmed both ends: what the uniqueness check compares */
	const char *p[13];   /* SQL_PROFILE_SAVE's */
	struct audit_row audit;
};

/* After the token check: the form, or NULL with the 422 written. */
static struct profile_save *profile_form(struct ctx *c)
{
	if (body_object(c))
		return NULL;
	struct profile_field f[] = {{.key = "name", .max = 100},
				    {.key = "email", .max = 254},
				    {.key = "phone", .max = 40},
				    {.key = "bio", .max = 1000}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		f[i].set = json_get(&c->json, 0, f[i].key) >= 0;
		field_str(c, f[i].key, F_OPTIONAL | (i == 3 ? F_MULTILINE : 0), 0, f[i].max, &f[i].value);
	}
	char *social = NULL;
	int si = json_get(&c->json, 0, "socialMedia"), oi = json_get(&c->json, 0, "hasCompletedOnboarding");
	if (si >= 0 && json_truthy(&c->json, si))
		social = json_raw(c, si);
	if (c->n_verrs) {
		resp_validation(c);
		return NULL;
	}
	struct profile_save *ps = arena_alloc(&c->arena, sizeof *ps);
	if (!ps) {
		resp_internal_error(c, "out of memory");
		return NULL;
	}
	char *phone = f[2].value, *email = f[1].value;
	if (phone && *phone) { /* digits only; nothing left means null */
		size_t o = 0;
		for (char *p = phone; *p; p++)
			if (*p >= '0' && *p <= '9')
				phone[o++] = *p;
		phone[o] = 0;
		phone = o ? phone : NULL;
	}
	ps->email_key = email && *email ? str_lower(str_trim(email)) : NULL;
	if (f[3].value && !strcmp(f[3].value, "Add bio"))
		f[3].value = "";
	id_text(ps->uid, c->user.id);
	ps->phone = phone;
	ps->email = email;
	const char *onboard = oi < 0 ? NULL : json_truthy(&c->json, oi) ? "1" : "0";
	const char *p[] = {ps->uid,    f[0].set ? "t" : "f", f[0].value, f[1].set ? "t" : "f",
			   email,      f[2].set ? "t" : "f", phone,      f[3].set ? "t" : "f",
			   f[3].value, si >= 0 ? "t" : "f",  social,     oi >= 0 ? "t" : "f",
			   onboard};
	memcpy(ps->p, p, sizeof p);
	struct buf d = audit_begin();
	audit_sep(&d);
	buf_adds(&d, "\"fields_updated\": [");
	for (int k = c->json.t[0].size, i = 1, m = 0; k > 0; k--, m++) {
		size_t len;
		char *name = json_string(&c->json, i, &c->arena, &len);
		if (m)
			buf_adds(&d, ", ");
		json_str_ascii(&d, name ? name : "", name ? len : 0);
		i = json_skip(&c->json, i + 1);
	}
	buf_addc(&d, ']');
	audit_row(c, &ps->audit, c->user.id, "profile_update", &d);
	return ps;
}

/* The change and its audit row, at s[0..PROFILE_CHANGE_STEPS): to follow BEGIN (and checks). */
enum { PROFILE_CHANGE_STEPS = 1 + AUDIT_STEPS };
static void profile_change_steps(struct profile_save *ps, struct db_step *s)
{
	s[0] = (struct db_step){.q = Q_PROFILE_SAVE, .n = 13, .params = ps->p};
	audit_steps(&ps->audit, &s[1]);
}

/*
 * The loop's steps (R_WRITE): BEGIN and the change, when there is no new phone or e-mail to
 * check first (those go the worker way: the check decides whether the change is sent).
 */
static int profile_save_steps(struct ctx *c, struct db_step *s)
{
	struct profile_save *ps = profile_form(c);
	if (!ps || (ps->phone && *ps->phone) || ps->email_key)
		return -1;
	s[0] = (struct db_step){.sql = "BEGIN"};
	profile_change_steps(ps, &s[1]);
	c->audit = &ps->audit;
	c->audit_at = 2;
	return 1 + PROFILE_CHANGE_STEPS;
}

static void profile_save_done(struct ctx *c, struct db_step *s)
{
	(void)s;
	json_kv_bool(resp_json(c, 200), "success", true);
	resp_end(c);
}

/*
 * POST /user/profile on a worker. A new phone or e-mail is checked first (BEGIN, then a lock
 * and a look for each, in one round trip); the change, its audit row and COMMIT go in one more.
 * Without a phone or e-mail it is all one round trip.
 */
static void h_profile_save(struct ctx *c)
{
	struct profile_save *ps;
	if (auth_require(c) || !(ps = profile_form(c)))
		return;
	struct db_step s[DB_STEPS_MAX];
	int n = 0, failed, phone_at = 0, email_at = 0; /* where the look for each is */
	s[n++] = (struct db_step){.sql = "BEGIN"};
	if (ps->phone && *ps->phone &&
	    profile_unique_steps(c, s, &n, Q_PHONE_TAKEN_BY_OTHER, "phone", ps->phone, ps->uid))
		return;
	phone_at = n > 1 ? n - 1 : 0;
	if (ps->email_key &&
	    profile_unique_steps(c, s, &n, Q_EMAIL_TAKEN_BY_OTHER, "email", ps->email_key, ps->uid))
		return;
	email_at = n - 1 > phone_at ? n - 1 : 0;
	if (n > 1) {
		if (db_steps(c, s, n))
			return;
		const char *taken = phone_at && PQntuples(s[phone_at].res)   ? "phone number"
				    : email_at && PQntuples(s[email_at].res) ? "email"
									     : NULL;
		db_steps_clear(s, n);
		if (taken) {
			char msg[80];
			snprintf(msg, sizeof msg, "This %s is already associated with another account",
				 taken);
			resp_detail(c, 400, msg);
			return;
		}
		n = 0; /* the transaction is open: the change follows in it */
	}
	int at = n + 1;
	profile_change_steps(ps, &s[n]);
	n += PROFILE_CHANGE_STEPS;
	s[n++] = (struct db_step){.sql = "COMMIT"};
	int rc = db_steps_rc(c, s, n, &failed);
	rc = audit_steps_settle(c, &ps->audit, rc, failed, at);
	db_steps_clear(s, n);
	if (rc) {
		resp_db_error(c, rc);
		return;
	}
	profile_save_done(c, NULL);
}

/* --- Profile photos (ORIGINAL_API 3.4, DECISIONS E, F) --- */

static const char SQL_PHOTO_GET[] = "SELECT profile_photo FROM user_profiles WHERE user_id = $1::int";
static const char SQL_PHOTO_SET[] =
	"INSERT INTO user_profiles (user_id, profile_photo, has_completed_onboarding) VALUES ($1::int, $2, 0)"
	" ON CONFLICT (user_id) DO UPDATE SET profile_photo = EXCLUDED.profile_photo";

/* JPEG, PNG, GIF, WebP or HEIC, by their first bytes; Cloudinary does the decoding. */
static bool image_magic_ok(const unsigned char *p, size_t n)
{
	if (n >= 3 && !memcmp(p, "\xff\xd8\xff", 3))
		return true;
	if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
		return true;
	if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6)))
		return true;
	if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
		return true;
	static const char *const brands[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"};
	for (size_t i = 0; n >= 12 && !memcmp(p + 4, "ftyp", 4) && i < sizeof brands / sizeof brands[0]; i++)
		if (!memcmp(p + 8, brands[i], 4))
			return true;
	return false;
}

/* The caller's stored photo URL (arena), NULL when none; -1 after a database error. */
static int photo_current(struct ctx *c, char **url)
{
	PGresult *res;
	*url = NULL;
	if (db_query_uid(c, Q_PHOTO_GET, &res))
		return -1;
	if (PQntuples(res) && !PQgetisnull(res, 0, 0) && PQgetlength(res, 0, 0))
		*url = arena_strndup(&c->arena, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	PQclear(res);
	return 0;
}

static int photo_store(struct ctx *c, const char *url)
{
	char uid[24];
	id_text(uid, c->user.id);
	const char *p[] = {uid, url};
	PGresult *res;
	if (db_query(c, Q_PHOTO_SET, 2, p, &res))
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Photo work in stages. A worker checks and reads (database); the Cloudinary call runs on an
 * outbound thread (no worker, no database connection); a worker commits the new URL; the old
 * asset is destroyed on an outbound thread only after that; a last worker stage answers. So a
 * failed or slow upload leaves the user's photo and its URL untouched, and stalled uploads
 * cannot starve the requests that need the database.
 */
enum photo_op { PHOTO_UPLOAD, PHOTO_DELETE, PHOTO_ACCOUNT_DELETED };

struct photo_job {
	enum photo_op op;
	char *previous; /* the stored URL before this request */
	char *url;      /* the new secure_url, once uploaded */
	char *destroy;  /* what the outbound stage destroys */
};

static void photo_upload_net(struct ctx *c)
{
	struct photo_job *j = c->state;
	if (cld_upload(c, c->req->body.p, c->req->body.n, c->user.id, &j->url))
		j->url = NULL;
}

static void photo_destroy_net(struct ctx *c)
{
	struct photo_job *j = c->state;
	cld_destroy(c, j->destroy);
}

static void h_photo_finish(struct ctx *c)
{
	struct photo_job *j = c->state;
	if (c->status) /* an error was answered before the clean-up ran */
		return;
	if (j->op == PHOTO_ACCOUNT_DELETED) {
		resp_success(c, "Account successfully deleted");
		return;
	}
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	if (j->op == PHOTO_UPLOAD)
		json_kv_str(b, "url", j->url);
	resp_end(c);
}

/* Destroys `url` on an outbound thread, then answers; without a URL it answers at once. */
static void photo_destroy_then_finish(struct ctx *c, char *url)
{
	struct photo_job *j = c->state;
	j->destroy = url;
	if (!url || !CLD.configured || side_request(c, &SIDE_OUTBOUND, photo_destroy_net, h_photo_finish))
		h_photo_finish(c); /* a full outbound queue only means an orphaned asset */
}

static struct photo_job *photo_job_new(struct ctx *c, enum photo_op op)
{
	struct photo_job *j = arena_alloc(&c->arena, sizeof *j);
	if (j)
		*j = (struct photo_job){.op = op};
	c->state = j;
	return j;
}

static void h_photo_commit(struct ctx *c);

static void h_photo_upload(struct ctx *c)
{
	struct photo_job *j = photo_job_new(c, PHOTO_UPLOAD);
	if (!j || auth_require(c))
		return;
	if (!c->upload || !c->upload->file_seen) {
		verr_add(c, "file", "Field required");
		resp_validation(c);
		return;
	}
	if (!image_magic_ok((const unsigned char *)c->req->body.p, c->req->body.n)) {
		resp_detail(c, 400, "Invalid or corrupted image file: cannot identify image file");
		return;
	}
	if (!CLD.configured) {
		resp_detail(c, 503, "Photo storage is not configured");
		return;
	}
	if (photo_current(c, &j->previous))
		return;
	side_request(c, &SIDE_OUTBOUND, photo_upload_net, h_photo_commit);
}

static void h_photo_commit(struct ctx *c)
{
	struct photo_job *j = c->state;
	if (!j->url) {
		resp_detail(c, 502, "Photo upload failed, please try again");
		return;
	}
	if (photo_store(c, j->url)) {
		photo_destroy_then_finish(c, j->url); /* not stored: do not leave the new asset behind */
		return;
	}
	photo_destroy_then_finish(c, j->previous && strcmp(j->previous, j->url) ? j->previous : NULL);
}

static void h_photo_get(struct ctx *c)
{
	char *url;
	if (auth_require(c) || photo_current(c, &url))
		return;
	if (!url) {
		resp_detail(c, 404, "Profile photo not found");
		return;
	}
	json_kv_str(resp_json(c, 200), "url", url);
	resp_end(c);
}

static void h_photo_delete(struct ctx *c)
{
	struct photo_job *j = photo_job_new(c, PHOTO_DELETE);
	if (!j || auth_require(c) || photo_current(c, &j->previous))
		return;
	if (j->previous && photo_store(c, NULL))
		return;
	photo_destroy_then_finish(c, j->previous);
}

/* --- Settings --- */

static const char SQL_SETTINGS_GET[] =
	"SELECT dark_mode, max_distance FROM user_settings WHERE user_id = $1::int";
static const char SQL_SETTINGS_PUT[] =
	"INSERT INTO user_settings (user_id, dark_mode, max_distance) VALUES ($1::int, $2::int, $3::int)"
	" ON CONFLICT (user_id) DO UPDATE SET dark_mode = EXCLUDED.dark_mode, max_distance = "
	"EXCLUDED.max_distance";

static void render_settings(struct ctx *c, PGresult *res)
{
	bool row = PQntuples(res) == 1;
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "darkMode", row ? atoll(PQgetvalue(res, 0, 0)) != 0 : true);
	json_key(b, "maxDistance");
	if (row && PQgetisnull(res, 0, 1))
		buf_adds(b, "null");
	else
		buf_printf(b, "%lld", row ? atoll(PQgetvalue(res, 0, 1)) : 33LL);
	resp_end(c);
}

static void h_settings_save(struct ctx *c)
{
	long long max = 33;
	bool present;
	if (auth_require(c) || body_object(c))
		return;
	field_int(c, "maxDistance", false, 0, 100000, &max, &present);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	char uid[24], dist[24];
	id_text(uid, c->user.id);
	id_text(dist, present ? max : 33);
	const char *p[] = {uid, json_truthy(&c->json, json_get(&c->json, 0, "darkMode")) ? "1" : "0", dist};
	PGresult *res;
	if (db_query(c, Q_SETTINGS_PUT, 3, p, &res))
		return;
	PQclear(res);
	json_kv_bool(resp_json(c, 200), "success", true);
	resp_end(c);
}

/* --- Privacy zones --- */

static const char SQL_ZONES_LIST[] =
	"SELECT id, address, radius FROM privacy_zones WHERE user_id = $1::int ORDER BY id";
static const char SQL_ZONE_INSERT[] =
	"INSERT INTO privacy_zones (user_id, address, radius) VALUES ($1::int, $2, $3::float8) RETURNING id";
static const char SQL_ZONE_OWNER[] = "SELECT user_id FROM privacy_zones WHERE id = $1::int";
static const char SQL_ZONE_DELETE[] = "DELETE FROM privacy_zones WHERE id = $1::int AND user_id = $2::int";

static void json_zone(struct buf *b, long long id, const char *address, double radius)
{
	buf_addc(b, '{');
	json_kv_int(b, "id", id);
	json_kv_str(b, "address", address);
	json_key(b, "radius");
	json_py_float(b, radius);
	buf_addc(b, '}');
}

static void json_zone_row(struct ctx *c, struct buf *b, const PGresult *res, int i)
{
	(void)c;
	json_zone(b, atoll(PQgetvalue(res, i, 0)), PQgetvalue(res, i, 1), atof(PQgetvalue(res, i, 2)));
}

static void render_zones(struct ctx *c, PGresult *res) { resp_rows(c, res, json_zone_row); }

static void h_zone_create(struct ctx *c)
{
	char *address;
	double radius;
	bool present;
	if (auth_require(c) || body_object(c))
		return;
	field_str(c, "address", 0, 1, 500, &address);
	if (!field_number(c, "radius", 0, 1e7, &radius, &present) && !present)
		verr_add(c, "radius", "Field required");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	char uid[24], rad[40];
	id_text(uid, c->user.id);
	snprintf(rad, sizeof rad, "%.17g", radius);
	const char *p[] = {uid, address, rad};
	PGresult *res;
	if (db_query(c, Q_ZONE_INSERT, 3, p, &res))
		return;
	long long id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	struct buf d = audit_begin();
	audit_int(&d, "zone_id", id);
	audit_str(&d, "address", address);
	audit_sep(&d);
	buf_adds(&d, "\"radius\": ");
	json_py_float(&d, radius);
	audit_write(c, c->user.id, "privacy_zone_created", &d);
	c->status = 200;
	c->ctype = "application/json";
	json_zone(&c->body, id, address, radius);
}

static void h_zone_delete(struct ctx *c)
{
	long long id;
	char zid[24], uid[24];
	if (auth_require(c) || path_int(c, 0, "zone_id", &id))
		return;
	id_text(zid, id);
	id_text(uid, c->user.id);
	const char *p1[] = {zid}, *p2[] = {zid, uid};
	PGresult *res;
	if (db_query(c, Q_ZONE_OWNER, 1, p1, &res))
		return;
	int rows = PQntuples(res);
	bool mine = rows && atoll(PQgetvalue(res, 0, 0)) == c->user.id;
	PQclear(res);
	if (!rows || !mine) { /* DECISIONS F: the original turned these into 500s */
		resp_detail(c, rows ? 403 : 404,
			    rows ? "Not authorized to delete this privacy zone" : "Privacy zone not found");
		return;
	}
	if (db_query(c, Q_ZONE_DELETE, 2, p2, &res))
		return;
	PQclear(res);
	struct buf d = audit_begin();
	audit_int(&d, "zone_id", id);
	audit_write(c, c->user.id, "privacy_zone_deleted", &d);
	json_kv_bool(resp_json(c, 200), "success", true);
	resp_end(c);
}

/* --- Pins --- */

static const char SQL_PINS_LIST[] =
	"SELECT device_id FROM pinned_contacts WHERE user_id = $1::int ORDER BY device_id";
static const char SQL_PIN_ADD[] =
	"INSERT INTO pinned_contacts (user_id, device_id) VALUES ($1::int, $2::int) ON CONFLICT DO NOTHING";
static const char SQL_PIN_DELETE[] =
	"DELETE FROM pinned_contacts WHERE user_id = $1::int AND device_id = $2::int";

static void json_pin_row(struct ctx *c, struct buf *b, const PGresult *res, int i)
{
	(void)c;
	buf_printf(b, "%lld", atoll(PQgetvalue(res, i, 0)));
}

static void render_pins(struct ctx *c, PGresult *res) { resp_rows(c, res, json_pin_row); }

static void pin_change(struct ctx *c, enum pg_stmt q)
{
	long long id;
	char did[24], uid[24];
	if (auth_require(c) || path_int(c, 0, "device_id", &id))
		return;
	id_text(did, id);
	id_text(uid, c->user.id);
	const char *p[] = {uid, did};
	PGresult *res;
	if (db_query(c, q, 2, p, &res))
		return;
	PQclear(res);
	json_kv_bool(resp_json(c, 200), "success", true);
	resp_end(c);
}

static void h_pin_add(struct ctx *c) { pin_change(c, Q_PIN_ADD); }
static void h_pin_delete(struct ctx *c) { pin_change(c, Q_PIN_DELETE); }

/* --- DELETE /user/delete --- */

/*
 * Everything the user owns goes in one statement (one transaction); the audit row of the
 * deletion is written by the same statement and kept (the original wrote it, then deleted it).
 */
static const char SQL_USER_DELETE[] =
	"WITH u AS (SELECT id, email FROM users WHERE id = $1::int FOR UPDATE),"
	" d1 AS (DELETE FROM devices WHERE user_id IN (SELECT id FROM u)),"
	" d2 AS (DELETE FROM privacy_zones WHERE user_id IN (SELECT id FROM u)),"
	" d3 AS (DELETE FROM pinned_contacts WHERE user_id IN (SELECT id FROM u)),"
	" d4 AS (DELETE FROM user_settings WHERE user_id IN (SELECT id FROM u)),"
	" d5 AS (DELETE FROM verification_codes WHERE lower(email) IN (SELECT lower(email) FROM u)),"
	" d6 AS (DELETE FROM user_profiles WHERE user_id IN (SELECT id FROM u)),"
	" d7 AS (DELETE FROM audit_logs WHERE user_id IN (SELECT id FROM u)),"
	" d8 AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM u)),"
	" gone AS (DELETE FROM users WHERE id IN (SELECT id FROM u) RETURNING id)"
	" INSERT INTO audit_logs (user_id, action, details, ip_address, user_agent, timestamp)"
	" SELECT id, 'account_deletion', 'User ' || id || ' deleted their account', $2, $3,"
	"        now() AT TIME ZONE 'UTC' FROM gone RETURNING id";

static void h_user_delete(struct ctx *c)
{
	char uid[24], ua[256];
	struct photo_job *j = photo_job_new(c, PHOTO_ACCOUNT_DELETED);
	if (!j || auth_require(c) || photo_current(c, &j->previous))
		return;
	id_text(uid, c->user.id);
	struct slice agent = http_header(c->req, "User-Agent");
	snprintf(ua, sizeof ua, "%.*s", (int)agent.n, agent.p);
	if (!agent.n || !utf8_valid(ua, strlen(ua)))
		snprintf(ua, sizeof ua, "unknown");
	const char *p[] = {uid, c->client_ip, ua};
	PGresult *res;
	if (db_query(c, Q_USER_DELETE, 3, p, &res))
		return;
	bool gone = PQntuples(res) == 1;
	PQclear(res);
	if (!gone) { /* deleted by a parallel request since the token check: the token is dead */
		resp_detail(c, 401, "Invalid token");
		return;
	}
	photo_destroy_then_finish(c, j->previous); /* after the commit, on an outbound thread */
}

/* --- Telemetry: POST /api/log-api-call, POST /api/diagnostics/run (DECISIONS S7) --- */

static const char SQL_API_LOG[] =
	"INSERT INTO api_call_logs (timestamp, endpoint, method, user_id, success, status_code, error)"
	" VALUES (COALESCE($1::timestamp, now() AT TIME ZONE 'UTC'), $2, $3, $4::int, $5::bool, $6::int, $7)";

/* YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z]: what PostgreSQL's timestamp input takes safely. */
static bool iso_timestamp_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i = 0;
	for (; shape[i]; i++) {
		char ch = s[i];
		if (shape[i] == 'd'   ? !isdigit((unsigned char)ch)
		    : shape[i] == 'T' ? ch != 'T' && ch != ' '
				      : ch != shape[i])
			return false;
	}
	if (s[i] == '.') {
		size_t d = ++i;
		while (isdigit((unsigned char)s[i]))
			i++;
		if (i == d || i - d > 6)
			return false;
	}
	if (s[i] == 'Z')
		i++;
	return !s[i];
}

static void resp_reset(struct ctx *c);

static void h_log_api_call(struct ctx *c)
{
	if (rate_check(c, &RATE_LOG_API_CALL, c->client_key) || body_object(c))
		return;
	char *ts, *endpoint, *method, *error;
	long long uid = 0, status = 0;
	bool has_uid, has_status;
	field_str(c, "timestamp", F_OPTIONAL, 0, 64, &ts);
	field_str(c, "endpoint", F_OPTIONAL, 0, 2048, &endpoint);
	field_str(c, "method", F_OPTIONAL, 0, 16, &method);
	field_str(c, "error", F_OPTIONAL | F_CONTROL, 0, 2000, &error);
	field_int(c, "user_id", false, INT32_MIN, INT32_MAX, &uid, &has_uid);
	field_int(c, "status_code", false, 0, 999, &status, &has_status);
	int si = json_get(&c->json, 0, "success");
	enum json_kind sk = json_kind(&c->json, si);
	bool success = false;
	if (si >= 0 && sk != JK_NULL)
		field_bool(c, "success", false, &success);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	if (endpoint) /* S7: never the query string, which may carry tokens or passwords */
		endpoint[strcspn(endpoint, "?#")] = 0;
	/* the user is the bearer token's, if its session holds, or nobody: a body's user_id is the
	   caller's word only */
	has_uid = false;
	if (http_header(c->req, "Authorization").n) {
		has_uid = !auth_require(c);
		if (!has_uid)
			resp_reset(c); /* no 401: the call is logged, as nobody's */
	}
	uid = has_uid ? c->user.id : 0;
	char uids[24], sts[24];
	id_text(uids, uid);
	id_text(sts, status);
	const char *p[] = {ts && iso_timestamp_ok(ts) ? ts : NULL,
			   endpoint,
			   method,
			   has_uid ? uids : NULL,
			   si < 0 || sk == JK_NULL ? NULL
			   : success               ? "t"
						   : "f",
			   has_status ? sts : NULL,
			   error};
	PGresult *res;
	if (db_query(c, Q_API_LOG, 7, p, &res))
		return;
	PQclear(res);
	json_kv_bool(resp_json(c, 200), "success", true);
	resp_end(c);
}

static const char SQL_DIAG_COLUMNS[] =
	"SELECT column_name FROM information_schema.columns"
	" WHERE table_schema = current_schema() AND table_name = 'user_profiles'";
static const char SQL_DIAG_PROFILE[] =
	"SELECT name, email, phone, bio, has_completed_onboarding FROM user_profiles WHERE user_id = $1::int";
static const char SQL_DIAG_ACTIVITY[] =
	"SELECT count(*), count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success)"
	"  FROM api_call_logs WHERE user_id = $1::int"
	"   AND timestamp > (now() AT TIME ZONE 'UTC') - interval '10 minutes'";
static const char SQL_DIAG_USER[] = "SELECT id, username, email FROM users WHERE id = $1::int";

/* One check object; `details` is written by the caller between check_open and check_close. */
static void diag_check(struct buf *b, bool *first, const char *name, const char *status)
{
	if (!*first)
		buf_addc(b, ',');
	*first = false;
	buf_addc(b, '{');
	json_kv_str(b, "name", name);
	json_kv_str(b, "status", status);
}

static const char *const DIAG_PROFILE_COLUMNS[] = {"user_id", "name", "email",
						   "phone",   "bio",  "has_completed_onboarding"};

static void diag_schema(struct ctx *c, struct buf *b, bool *first, int *worst)
{
	PGresult *res;
	if (db_query_quiet(c, Q_DIAG_COLUMNS, 0, NULL, &res)) {
		diag_check(b, first, "Database Schema", "error");
		json_kv_str(b, "error", "Database unavailable");
		buf_addc(b, '}');
		*worst = 2;
		return;
	}
	struct buf found = {0}, missing = {0};
	for (size_t i = 0; i < sizeof DIAG_PROFILE_COLUMNS / sizeof DIAG_PROFILE_COLUMNS[0]; i++) {
		bool have = false;
		for (int r = 0; r < PQntuples(res); r++)
			have |= !strcmp(PQgetvalue(res, r, 0), DIAG_PROFILE_COLUMNS[i]);
		struct buf *into = have ? &found : &missing;
		if (into->len)
			buf_addc(into, ',');
		json_cstr(into, DIAG_PROFILE_COLUMNS[i]);
	}
	PQclear(res);
	diag_check(b, first, "Database Schema", missing.len ? "fail" : "pass");
	if (missing.len && *worst < 1)
		*worst = 1;
	json_key(b, "details");
	buf_adds(b, "{\"found_columns\":[");
	buf_add(b, found.p, found.len);
	buf_adds(b, "],\"missing_columns\":[");
	buf_add(b, missing.p, missing.len);
	buf_adds(b, "],\"expected_columns\":[");
	for (size_t i = 0; i < sizeof DIAG_PROFILE_COLUMNS / sizeof DIAG_PROFILE_COLUMNS[0]; i++)
		buf_printf(b, "%s\"%s\"", i ? "," : "", DIAG_PROFILE_COLUMNS[i]);
	buf_adds(b, "]}}");
	buf_free(&found);
	buf_free(&missing);
}

static void diag_query_check(struct ctx *c, struct buf *b, bool *first, int *worst, const char *name,
			     enum pg_stmt q, const char *uid)
{
	const char *p[] = {uid};
	PGresult *res;
	if (db_query_quiet(c, q, 1, p, &res)) {
		diag_check(b, first, name, "error");
		json_kv_str(b, "error", "Database unavailable");
		buf_addc(b, '}');
		*worst = 2;
		return;
	}
	bool rows = PQntuples(res) > 0;
	diag_check(b, first, name, rows || q == Q_DIAG_ACTIVITY ? "pass" : "fail");
	if (!rows && q != Q_DIAG_ACTIVITY && *worst < 1)
		*worst = 1;
	json_key(b, "details");
	buf_addc(b, '{');
	if (q == Q_DIAG_PROFILE) {
		json_kv_bool(b, "exists", rows);
		json_key(b, "data");
		if (!rows) {
			buf_adds(b, "null");
		} else {
			buf_addc(b, '{');
			json_kv_nullable(b, "name", res, 0, 0);
			json_kv_nullable(b, "email", res, 0, 1);
			json_kv_nullable(b, "phone", res, 0, 2);
			json_kv_nullable(b, "bio", res, 0, 3);
			json_kv_int(b, "has_completed_onboarding", atoll(PQgetvalue(res, 0, 4)));
			buf_addc(b, '}');
		}
	} else if (q == Q_DIAG_ACTIVITY) {
		json_kv_int(b, "total_calls", atoll(PQgetvalue(res, 0, 0)));
		json_kv_int(b, "successful_calls", atoll(PQgetvalue(res, 0, 1)));
		json_kv_int(b, "failed_calls", atoll(PQgetvalue(res, 0, 2)));
		json_kv_str(b, "time_window", "last 10 minutes");
	} else {
		json_kv_bool(b, "user_exists", rows);
		json_kv_int(b, "user_id", atoll(uid));
		if (rows) {
			json_kv_nullable(b, "username", res, 0, 1);
			json_kv_nullable(b, "email", res, 0, 2);
		}
	}
	buf_adds(b, "}}");
	PQclear(res);
}

/*
 * The original's self-check, fixed per DECISIONS S7: a bearer token is required and only the
 * caller's own data is reported. The type comes from the query (the original) or the body
 * (the app, C2); any context in the body is accepted and not needed.
 */
static void h_diagnostics(struct ctx *c)
{
	if (auth_require(c) || params_open(c))
		return;
	char *type = param_str(c, "diagnostic_type");
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	char ts[40], uid[24];
	time_iso_utc(ts);
	ts[strlen(ts) - 1] = 0; /* the original printed local time without a zone */
	id_text(uid, c->user.id);
	bool first = true, db_checks = !strcmp(type, "profile_save") || !strcmp(type, "database");
	int worst = 0;
	struct buf *b = resp_json(c, 200);
	json_kv_str(b, "timestamp", ts);
	json_kv_str(b, "diagnostic_type", type);
	json_key(b, "checks");
	buf_addc(b, '[');
	if (db_checks)
		diag_schema(c, b, &first, &worst);
	if (!strcmp(type, "profile_save"))
		diag_query_check(c, b, &first, &worst, "Profile Data", Q_DIAG_PROFILE, uid);
	if (db_checks)
		diag_query_check(c, b, &first, &worst, "Recent API Activity", Q_DIAG_ACTIVITY, uid);
	if (!strcmp(type, "auth"))
		diag_query_check(c, b, &first, &worst, "User Authentication", Q_DIAG_USER, uid);
	buf_addc(b, ']');
	json_kv_str(b, "overall_status", worst == 2 ? "error" : worst ? "fail" : "pass");
	resp_end(c);
}

/* ==== 16. Handlers: admin, dashboard, metrics and API documents ====================== */

/* --- Admin (ORIGINAL_API 3.6, DECISIONS S2, P) --- */

static void audit_admin(struct ctx *c, const char *action, struct buf *d) { audit_write(c, 0, action, d); }

static const char SQL_ADMIN_STATS[] =
	"SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM devices),"
	"       (SELECT count(*) FROM user_profiles WHERE profile_photo IS NOT NULL AND profile_photo <> '')";
static const char SQL_ADMIN_USERS[] = "SELECT id, username, email FROM users ORDER BY id";

static void h_admin_stats(struct ctx *c)
{
	PGresult *totals, *users;
	if (admin_require(c) || db_query(c, Q_ADMIN_STATS, 0, NULL, &totals))
		return;
	if (db_query(c, Q_ADMIN_USERS, 0, NULL, &users)) {
		PQclear(totals);
		return;
	}
	struct buf d = audit_begin();
	audit_admin(c, "admin_stats", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_int(b, "total_users", atoll(PQgetvalue(totals, 0, 0)));
	json_kv_int(b, "total_devices", atoll(PQgetvalue(totals, 0, 1)));
	json_kv_int(b, "users_with_photos", atoll(PQgetvalue(totals, 0, 2)));
	json_key(b, "users");
	buf_addc(b, '[');
	for (int i = 0; i < PQntuples(users); i++) {
		buf_adds(b, i ? ",{" : "{");
		json_kv_int(b, "id", atoll(PQgetvalue(users, i, 0)));
		json_kv_nullable(b, "username", users, i, 1);
		bool no_email = PQgetisnull(users, i, 2) || !PQgetlength(users, i, 2);
		json_kv_str(b, "email", no_email ? "No email" : PQgetvalue(users, i, 2));
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
	resp_end(c);
	PQclear(totals);
	PQclear(users);
}

/* An optional int query parameter: -1 (422 written) when present but not a whole number. */
static int query_int(struct ctx *c, const char *name, long long min, long long max, long long *out,
		     bool *present)
{
	char *v = query_param(c, name);
	*present = v != NULL;
	if (!v || parse_int(str_trim(v), min, max, out))
		return 0;
	verr_add(c, name, "Input should be a valid integer, unable to parse string as an integer");
	return -1;
}

/*
 * Filters are ANDed exact matches; each combination is its own parameterised statement, so
 * the planner always sees the real filter and uses the index on (action, id) and friends.
 */
static void h_admin_audit_logs(struct ctx *c)
{
	long long uid = 0, limit = 100, offset = 0;
	bool has_uid, has_limit, has_offset;
	char *action = query_param(c, "action"), *ip = query_param(c, "ip_address");
	query_int(c, "user_id", INT32_MIN, INT32_MAX, &uid, &has_uid);
	query_int(c, "limit", LLONG_MIN / 2, LLONG_MAX / 2, &limit, &has_limit);
	query_int(c, "offset", LLONG_MIN / 2, LLONG_MAX / 2, &offset, &has_offset);
	if (c->n_verrs) {
		resp_validation(c);
		return;
	}
	if (admin_require(c))
		return;
	limit = !has_limit || limit < 1 ? 100 : limit > 1000 ? 1000 : limit;
	offset = offset < 0 ? 0 : offset;
	char uids[24], lims[24], offs[24], where[160] = "";
	const char *params[5];
	int n = 0;
	id_text(uids, uid);
	if (has_uid)
		params[n++] = uids, snprintf(where + strlen(where), 40, " AND user_id = $%d::int", n);
	if (action)
		params[n++] = action, snprintf(where + strlen(where), 40, " AND action = $%d", n);
	if (ip)
		params[n++] = ip, snprintf(where + strlen(where), 40, " AND ip_address = $%d", n);
	id_text(lims, limit);
	id_text(offs, offset);
	char count_sql[256], page_sql[640];
	snprintf(count_sql, sizeof count_sql, "SELECT count(*) FROM audit_logs WHERE true%s", where);
	snprintf(page_sql, sizeof page_sql,
		 "SELECT id, user_id, action, details, ip_address, user_agent,"
		 "       to_char(timestamp, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
		 "  FROM audit_logs WHERE true%s ORDER BY id DESC LIMIT $%d::bigint OFFSET $%d::bigint",
		 where, n + 1, n + 2);
	PGresult *count, *page;
	if (db_query_sql(c, count_sql, n, params, &count))
		return;
	params[n] = lims, params[n + 1] = offs;
	if (db_query_sql(c, page_sql, n + 2, params, &page)) {
		PQclear(count);
		return;
	}
	struct buf d = audit_begin();
	if (has_uid)
		audit_int(&d, "user_id", uid);
	if (action)
		audit_str(&d, "action", action);
	audit_admin(c, "admin_audit_logs", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_int(b, "total_count", atoll(PQgetvalue(count, 0, 0)));
	json_kv_int(b, "limit", limit);
	json_kv_int(b, "offset", offset);
	json_key(b, "logs");
	buf_addc(b, '[');
	for (int i = 0; i < PQntuples(page); i++) {
		buf_adds(b, i ? ",{" : "{");
		json_kv_int(b, "id", atoll(PQgetvalue(page, i, 0)));
		json_key(b, "user_id");
		if (PQgetisnull(page, i, 1))
			buf_adds(b, "null");
		else
			buf_printf(b, "%lld", atoll(PQgetvalue(page, i, 1)));
		json_kv_nullable(b, "action", page, i, 2);
		json_kv_stored_json(c, b, "details", page, i, 3);
		json_kv_nullable(b, "ip_address", page, i, 4);
		json_kv_nullable(b, "user_agent", page, i, 5);
		json_kv_nullable(b, "timestamp", page, i, 6);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
	resp_end(c);
	PQclear(count);
	PQclear(page);
}

/* at most a million days (back to about 700 BC): more is past the range of a PostgreSQL timestamp */
static const char SQL_AUDIT_CLEANUP[] = "DELETE FROM audit_logs WHERE timestamp < (now() AT TIME ZONE 'UTC') "
					"- make_interval(days => LEAST($1::int, 1000000))";

static void h_admin_cleanup_audit_logs(struct ctx *c)
{
	long long days = 90;
	bool present;
	if (query_int(c, "days", INT32_MIN, INT32_MAX, &days, &present)) {
		resp_validation(c);
		return;
	}
	if (admin_require(c))
		return;
	if (days < 1) {
		resp_detail(c, 400, "Days must be at least 1");
		return;
	}
	char ds[24];
	id_text(ds, days);
	const char *p[] = {ds};
	PGresult *res;
	if (db_query(c, Q_AUDIT_CLEANUP, 1, p, &res))
		return;
	long long deleted = atoll(PQcmdTuples(res));
	PQclear(res);
	struct buf d = audit_begin();
	audit_int(&d, "retention_days", days);
	audit_int(&d, "deleted_count", deleted);
	audit_admin(c, "admin_cleanup_audit_logs", &d);
	char msg[128];
	snprintf(msg, sizeof msg, "Deleted %lld audit log(s) older than %lld days", deleted, days);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_int(b, "deleted_count", deleted);
	json_kv_int(b, "retention_days", days);
	json_kv_str(b, "message", msg);
	resp_end(c);
}

/* Sequences are never restarted: a reused id would make an old token valid (DECISIONS P). */
static const char SQL_CLEAR_ALL[] =
	"WITH a AS (DELETE FROM pinned_contacts), b AS (DELETE FROM privacy_zones),"
	" c AS (DELETE FROM user_settings), d AS (DELETE FROM user_profiles), e AS (DELETE FROM devices),"
	" f AS (DELETE FROM sessions)"
	" DELETE FROM users";

static void h_admin_clear_all_data(struct ctx *c)
{
	if (admin_require(c))
		return;
	if (!cfg.dev && !cfg.allow_clear_all_data) {
		resp_detail(
			c, 403,
			"clear-all-data is disabled in production; set ALLOW_CLEAR_ALL_DATA=1 to allow it");
		return;
	}
	PGresult *res;
	if (db_query(c, Q_CLEAR_ALL, 0, NULL, &res))
		return;
	long long users = atoll(PQcmdTuples(res));
	PQclear(res);
	struct buf d = audit_begin();
	audit_int(&d, "users_deleted", users);
	audit_admin(c, "admin_clear_all_data", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_bool(b, "success", true);
	json_kv_str(b, "message",
		    "All user data has been deleted (sequences are kept, so ids are never reused)");
	json_key(b, "deleted_tables");
	buf_adds(b, "[\"users\",\"devices\",\"user_profiles\",\"user_settings\",\"privacy_zones\",\"pinned_"
		    "contacts\"]");
	resp_end(c);
}

/* --- GET /admin/dashboard: the original's page, escaped, behind the secret or HTTP Basic --- */

static void html_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '&': buf_adds(b, "&amp;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		case '\'': buf_adds(b, "&#39;"); break;
		default: buf_addc(b, *s);
		}
	}
}

/* The `secret` header, or Basic credentials whose password is the admin secret (any user). */
static bool admin_basic_ok(struct ctx *c)
{
	struct slice h = http_header(c->req, "Authorization");
	if (h.n < 7 || strncasecmp(h.p, "Basic ", 6))
		return false;
	struct slice b64 = sl_trim((struct slice){h.p + 6, h.n - 6});
	char std[700];
	unsigned char raw[(sizeof std / 4 + 1) * 3]; /* what the longest accepted text decodes to */
	if (b64.n >= sizeof std)
		return false;
	/* standard base64 to base64url, padding dropped, for our strict decoder */
	size_t n = 0;
	for (size_t i = 0; i < b64.n && b64.p[i] != '='; i++)
		std[n++] = b64.p[i] == '+' ? '-' : b64.p[i] == '/' ? '_' : b64.p[i];
	ssize_t len = b64url_decode(raw, std, n);
	if (len <= 0)
		return false;
	const unsigned char *colon = memchr(raw, ':', (size_t)len);
	if (!colon)
		return false;
	size_t plen = (size_t)len - (size_t)(colon + 1 - raw);
	return digest_matches(colon + 1, plen, cfg.admin_digest);
}

/* The dashboard's pages: the `secret` header or Basic credentials, else 401 and a challenge. */
static bool admin_page_ok(struct ctx *c)
{
	struct slice s = http_header(c->req, "secret");
	if ((s.n && digest_matches(s.p, s.n, cfg.admin_digest)) || admin_basic_ok(c))
		return true;
	resp_header(c, "WWW-Authenticate", "Basic realm=\"droplin admin\", charset=\"UTF-8\"");
	resp_detail(c, 401, "Not authenticated");
	return false;
}

/* The fleet is a frame of its own (h_admin_fleet_page) that reloads itself: the page around it,
   and its list of every user, load once. */
static const char DASHBOARD_CSP[] =
	"default-src 'none'; style-src 'unsafe-inline'; img-src https: data:;"
	" frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static void h_admin_dashboard(struct ctx *c)
{
	if (!admin_page_ok(c))
		return;
	PGresult *totals, *users;
	if (db_query(c, Q_ADMIN_STATS, 0, NULL, &totals))
		return;
	if (db_query(c, Q_ADMIN_USERS, 0, NULL, &users)) {
		PQclear(totals);
		return;
	}
	struct buf d = audit_begin();
	audit_admin(c, "admin_dashboard", &d);
	char updated[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(updated, sizeof updated, "%B %d, %Y at %I:%M:%S %p UTC", &tm);
	c->status = 200;
	c->ctype = "text/html; charset=utf-8";
	resp_header(c, "Content-Security-Policy", DASHBOARD_CSP);
	resp_header(c, "Cache-Control", "no-store");
	struct buf *b = &c->body;
	buf_adds(b,
		 "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<title>DropLink Admin Dashboard</title><style>"
		 "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
		 ".cards{display:flex;gap:1rem}.card{border:1px solid #ddd;border-radius:8px;padding:1rem "
		 "1.5rem}"
		 ".card "
		 "b{display:block;font-size:2rem}table{border-collapse:collapse;margin-top:1.5rem;width:100%}"
		 "th,td{border-bottom:1px solid #eee;padding:.4rem;text-align:left}"
		 "iframe{width:100%;height:30rem;border:1px solid #ddd;border-radius:8px;margin-top:.5rem}"
		 "</style></head><body><h1>DropLink Admin Dashboard</h1><div class=\"cards\">");
	buf_printf(b, "<div class=\"card\" id=\"total-users\"><b>%s</b>Total users</div>",
		   PQgetvalue(totals, 0, 0));
	buf_printf(b, "<div class=\"card\" id=\"users-with-photos\"><b>%s</b>Users with photos</div></div>",
		   PQgetvalue(totals, 0, 2));
	buf_adds(
		b,
		"<h2>Fleet</h2><iframe id=\"fleet\" src=\"dashboard/fleet\" title=\"Every replica\"></iframe>"
		"<h2>Users</h2>");
	buf_adds(b, "<table><thead><tr><th>ID</th><th>Username</th><th>Email</th></tr></thead><tbody>");
	for (int i = 0; i < PQntuples(users); i++) {
		bool no_email = PQgetisnull(users, i, 2) || !PQgetlength(users, i, 2);
		buf_printf(b, "<tr><td>%lld</td><td>", atoll(PQgetvalue(users, i, 0)));
		html_escape(b, PQgetvalue(users, i, 1));
		buf_adds(b, "</td><td>");
		html_escape(b, no_email ? "No email" : PQgetvalue(users, i, 2));
		buf_adds(b, "</td></tr>");
	}
	if (!PQntuples(users))
		buf_adds(b, "<tr><td colspan=\"3\">No users yet</td></tr>");
	buf_printf(b, "</tbody></table><p id=\"updated\">Last updated: %s</p></body></html>", updated);
	PQclear(totals);
	PQclear(users);
}

/* --- The fleet: GET /admin/replicas and the dashboard's fleet frame, from the heartbeats --- */

enum {
	FLEET_SLOTS = METRIC_N_BUCKETS + 1, /* a heartbeat's histogram: /metrics' buckets, then above them */
	FLEET_BINS = FLEET_HISTORY_SECONDS / FLEET_BIN_SECONDS,
	FLEET_REFRESH_SECONDS = 5, /* the fleet frame reloads itself this often */
	/* a bin this many bins old takes no more segments (the longest, then a bin for a row
	   committed late): final */
	FLEET_FINAL_BINS = FLEET_SEGMENT_MAX_SECONDS / FLEET_BIN_SECONDS + 2,
};

/*
 * Every live replica's last heartbeat, and its last one at least FLEET_WINDOW_SECONDS older
 * (none while the replica is younger: its counters were zero when it started), for its rate
 * and percentiles over the last minute. A replica whose last heartbeat is older than
 * HEARTBEAT_GONE_AFTER of its own intervals is gone (so only rows that recent under the longest
 * interval are read, through the index on `at`), and so is one whose name started again after
 * its last heartbeat (restarted: a window over the runs, not a join of every run of a name with
 * every other, which thousands of rows of one name made quadratic). Rows dated after now(), at
 * an infinity or before their own start are none of a replica's (each `at` is its INSERT's
 * now(), after its start; one 'infinity' written by hand made every read of the fleet fail, and
 * one start in the future hid the live run of its name), and an interval counts up to
 * HEARTBEAT_MAX_SECONDS (a larger one overflowed). The first column is the database's time:
 * with no replica live the one row has nothing else.
 */
/* clang-format off */
static const char SQL_FLEET[] =
	"WITH last AS (SELECT DISTINCT ON (replica, started_at) * FROM replica_heartbeats"
	"   WHERE at > now() - " STR(HEARTBEAT_GONE_AFTER) " * interval '" STR(HEARTBEAT_MAX_SECONDS) " seconds'"
	"     AND at <= now() AND isfinite(started_at) AND started_at <= at"
	"   ORDER BY replica, started_at, at DESC),"
	" runs AS (SELECT *, max(started_at) OVER (PARTITION BY replica) AS newest FROM last),"
	" live AS (SELECT l.*, b.at AS base_at, b.buckets AS base_buckets FROM runs l LEFT JOIN LATERAL"
	"   (SELECT at, buckets FROM replica_heartbeats h"
	"     WHERE h.replica = l.replica AND h.started_at = l.started_at"
	"       AND h.at <= l.at - interval '" STR(FLEET_WINDOW_SECONDS) " seconds' AND isfinite(h.at)"
	"     ORDER BY h.at DESC LIMIT 1) b ON true"
	"   WHERE now() - l.at <= greatest(least(l.interval_ms, " STR(HEARTBEAT_MAX_SECONDS) " * 1000), 0)"
	"       * " STR(HEARTBEAT_GONE_AFTER) " * interval '1 millisecond'"
	"     AND l.newest <= l.at)"
	" SELECT " SQL_ISO("now()") ", replica, region, version, " SQL_ISO("started_at") ","
	"  extract(epoch FROM now() - started_at), " SQL_ISO("at") ", extract(epoch FROM now() - at),"
	"  interval_ms, ready, draining, in_flight, pool_in_use, pool_size, requests, errors, buckets,"
	"  extract(epoch FROM at - coalesce(base_at, started_at)), base_buckets"
	" FROM (VALUES (0)) AS one (x) LEFT JOIN live ON true ORDER BY replica, started_at";

/*
 * The plots: per bin of FLEET_BIN_SECONDS and histogram slot (from 1), requests a second over
 * the fleet, for the hour's bins from $1 on (absolute: epoch / FLEET_BIN_SECONDS; 0: all), each
 * row with the database's current bin. Each replica's counts are cumulative; its last heartbeat
 * in a bin minus its last one before (in its first bin: its first heartbeat read) is a segment,
 * one per replica and bin however often it beats. A segment's requests count in every bin it
 * overlaps, in proportion, so a replica beating less often than once a bin leaves no gaps; one
 * longer than FLEET_SEGMENT_MAX_SECONDS is a silence (an outage), not a rate, and leaves a gap.
 * A live run (its last heartbeat recent, not draining, no later run of its name) counts at its
 * last rate on to the fleet's latest heartbeat: its next heartbeat is still to come (the newest
 * points dipped with the heartbeats' phases). The fleet's rate in a bin is the requests of all
 * its segments over the span they cover together (the whole bin, unless it is the current one
 * or the fleet was silent), so a replica restarted within a bin, under its name or another,
 * counts once, and two at once add up. A count that fell (no replica's: a run's counters only
 * grow) counts as none. So a bin FLEET_FINAL_BINS old is final (fleet_history keeps it), and a
 * bin needs the rows from FLEET_SEGMENT_MAX_SECONDS and a bin before it (retention keeps them).
 * Rows dated after the database's now() are none of a replica's (each `at` is its INSERT's now()).
 */
static const char SQL_FLEET_HISTORY[] =
	"WITH p AS (SELECT greatest($1::float8, floor(date_part('epoch', now()) / " STR(FLEET_BIN_SECONDS) ")"
	"   - " STR(FLEET_HISTORY_SECONDS) " / " STR(FLEET_BIN_SECONDS) " + 1) AS first),"
	" e AS (SELECT replica, started_at, at, buckets, interval_ms, draining,"
	"   floor(date_part('epoch', at) / " STR(FLEET_BIN_SECONDS) ") AS bin,"
	"   lead(floor(date_part('epoch', at) / " STR(FLEET_BIN_SECONDS) ")) OVER w AS next_bin,"
	"   row_number() OVER w AS nth, max(started_at) OVER (PARTITION BY replica) AS newest"
	"   FROM replica_heartbeats, p"
	"   WHERE at > to_timestamp(p.first * " STR(FLEET_BIN_SECONDS) " - " STR(FLEET_SEGMENT_MAX_SECONDS) " - " STR(FLEET_BIN_SECONDS) ")"
	"     AND at <= now() AND isfinite(started_at)"
	"   WINDOW w AS (PARTITION BY replica, started_at ORDER BY at)),"
	" d AS (SELECT date_part('epoch', at) AS t, buckets, lag(buckets) OVER w AS prev,"
	"   date_part('epoch', lag(at) OVER w) AS t0, lead(at) OVER w IS NULL AND NOT draining"
	"     AND newest <= at AND at > now() - greatest(least(interval_ms, " STR(HEARTBEAT_MAX_SECONDS) " * 1000), 0)"
	"       * " STR(HEARTBEAT_GONE_AFTER) " * interval '1 millisecond' AS live FROM e"
	"   WHERE next_bin IS DISTINCT FROM bin OR nth = 1"
	"   WINDOW w AS (PARTITION BY replica, started_at ORDER BY at)),"
	" s AS (SELECT bin, buckets, prev, t - t0 AS dt,"
	"   least(t, (bin + 1) * " STR(FLEET_BIN_SECONDS) ") AS hi, greatest(t0, bin * " STR(FLEET_BIN_SECONDS) ") AS lo"
	"   FROM d, p, (VALUES (0), (1), (2), (3), (4)) AS o (n),"
	"   LATERAL (SELECT floor(t0 / " STR(FLEET_BIN_SECONDS) ") + o.n AS bin) b"
	"   WHERE t > t0 AND t - t0 <= " STR(FLEET_SEGMENT_MAX_SECONDS) " AND bin >= p.first"
	"  UNION ALL SELECT bin, buckets, prev, d.t - t0,"
	"   least(f.te, (bin + 1) * " STR(FLEET_BIN_SECONDS) "), greatest(d.t, bin * " STR(FLEET_BIN_SECONDS) ")"
	"   FROM d, p, (SELECT max(t) AS te FROM d) f,"
	"   (VALUES (0), (1), (2), (3), (4), (5), (6), (7)) AS o (n),"
	"   LATERAL (SELECT floor(d.t / " STR(FLEET_BIN_SECONDS) ") + o.n AS bin) b"
	"   WHERE live AND d.t > t0 AND d.t - t0 <= " STR(FLEET_SEGMENT_MAX_SECONDS) " AND bin >= p.first),"
	" w AS (SELECT bin, buckets, prev, (hi - lo) / dt / (max(hi) OVER r - min(lo) OVER r) AS k"
	"   FROM s WHERE hi > lo WINDOW r AS (PARTITION BY bin))"
	" SELECT floor(date_part('epoch', now()) / " STR(FLEET_BIN_SECONDS) ")::bigint, bin::bigint, u.i,"
	"  sum(greatest(u.n::float8 - w.prev[u.i], 0) * w.k)"
	" FROM w, unnest(w.buckets) WITH ORDINALITY AS u (n, i) GROUP BY 2, 3"
	" UNION ALL SELECT floor(date_part('epoch', now()) / " STR(FLEET_BIN_SECONDS) ")::bigint, NULL, NULL, NULL";
/* clang-format on */

/* Adds `sign` times a bigint[] of FLEET_SLOTS counts, as PostgreSQL writes it ({1,2,3}), to h. */
static bool hist_add(double h[FLEET_SLOTS], const char *s, double sign)
{
	double v[FLEET_SLOTS];
	s += *s == '{';
	for (int n = 0; n < FLEET_SLOTS; n++) {
		char *end;
		v[n] = strtod(s, &end);
		if (end == s)
			return false;
		s = end + (n < FLEET_SLOTS - 1 && *end == ',');
	}
	if (strcmp(s, "}"))
		return false;
	for (int n = 0; n < FLEET_SLOTS; n++)
		h[n] += sign * v[n];
	return true;
}

/*
 * The q-quantile of a histogram of FLEET_SLOTS in milliseconds, interpolated within its bucket
 * as Prometheus' histogram_quantile() does, the largest bound when it falls above it; NAN when
 * the histogram is empty.
 */
static double hist_quantile_ms(const double h[FLEET_SLOTS], double q)
{
	double total = 0, seen = 0;
	for (int i = 0; i < FLEET_SLOTS; i++)
		total += h[i];
	if (total <= 0)
		return NAN;
	for (int i = 0; i < METRIC_N_BUCKETS; i++) {
		if (h[i] > 0 && seen + h[i] >= q * total) {
			double lo = i ? METRIC_BUCKETS[i - 1] : 0;
			return 1000 * (lo + (METRIC_BUCKETS[i] - lo) * (q * total - seen) / h[i]);
		}
		seen += h[i];
	}
	return 1000 * METRIC_BUCKETS[METRIC_N_BUCKETS - 1];
}

struct fleet_replica {
	const char *replica, *region, *version, *started_at, *last_heartbeat; /* in fleet.res */
	double uptime, age, interval, window, rate, p50, p99;
	bool ready, draining;
	long long in_flight, pool_in_use, pool_size, requests, errors;
};

struct fleet {
	PGresult *res; /* the caller's to clear */
	const char *time;
	int n, n_ready, n_draining;
	struct fleet_replica *r, total; /* total: sums; its rate and percentiles over every replica */
};

/* *sum += v, held at the ends of long long (counters written by hand can be as large as a
   bigint: their sum overflowed) */
static void sum_add(long long *sum, long long v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = v < 0 ? LLONG_MIN : LLONG_MAX;
}

/* Reads the live fleet (SQL_FLEET); -1 when it failed (answered). */
static int fleet_load(struct ctx *c, struct fleet *f)
{
	*f = (struct fleet){0};
	if (db_query(c, Q_FLEET, 0, NULL, &f->res))
		return -1;
	PGresult *res = f->res;
	int rows = PQntuples(res);
	f->time = rows ? PQgetvalue(res, 0, 0) : "";
	if (!(f->r = arena_alloc(&c->arena, (size_t)rows * sizeof *f->r + 1))) {
		PQclear(res);
		resp_internal_error(c, "out of memory");
		return -1;
	}
	double all[FLEET_SLOTS] = {0};
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(res, i, 1))
			continue;
		struct fleet_replica *r = &f->r[f->n++], *t = &f->total;
		const char *v[19];
		for (int k = 0; k < 19; k++)
			v[k] = PQgetvalue(res, i, k);
		*r = (struct fleet_replica){.replica = v[1],
					    .region = v[2],
					    .version = v[3],
					    .started_at = v[4],
					    .uptime = atof(v[5]),
					    .last_heartbeat = v[6],
					    .age = atof(v[7]),
					    .interval = atof(v[8]) / 1000,
					    .window = atof(v[17])};
		r->ready = v[9][0] == 't', r->draining = v[10][0] == 't';
		r->in_flight = atoll(v[11]), r->pool_in_use = atoll(v[12]), r->pool_size = atoll(v[13]);
		r->requests = atoll(v[14]), r->errors = atoll(v[15]);
		double h[FLEET_SLOTS] = {0}, n = 0;
		bool ok = hist_add(h, v[16], 1) && (PQgetisnull(res, i, 18) || hist_add(h, v[18], -1));
		for (int k = 0; k < FLEET_SLOTS; k++) { /* a count that fell is none (counters grow) */
			h[k] = h[k] > 0 ? h[k] : 0;
			n += h[k], all[k] += ok ? h[k] : 0;
		}
		r->rate = ok && r->window > 0 ? n / r->window : NAN;
		r->p50 = ok ? hist_quantile_ms(h, 0.5) : NAN;
		r->p99 = ok ? hist_quantile_ms(h, 0.99) : NAN;
		f->n_ready += r->ready, f->n_draining += r->draining;
		sum_add(&t->in_flight, r->in_flight), sum_add(&t->pool_in_use, r->pool_in_use);
		sum_add(&t->pool_size, r->pool_size), sum_add(&t->requests, r->requests);
		sum_add(&t->errors, r->errors);
		t->rate += isfinite(r->rate) ? r->rate : 0;
	}
	f->total.p50 = hist_quantile_ms(all, 0.5);
	f->total.p99 = hist_quantile_ms(all, 0.99);
	return 0;
}

static void json_fleet_counts(struct buf *b, const struct fleet_replica *r)
{
	json_kv_int(b, "in_flight", r->in_flight);
	json_kv_int(b, "pool_in_use", r->pool_in_use);
	json_kv_int(b, "pool_size", r->pool_size);
	json_kv_int(b, "requests", r->requests);
	json_kv_int(b, "errors", r->errors);
	json_kv_num(b, "requests_per_second", r->rate);
	json_kv_num(b, "p50_ms", r->p50);
	json_kv_num(b, "p99_ms", r->p99);
}

static void h_admin_replicas(struct ctx *c)
{
	struct fleet f;
	if (admin_require(c) || fleet_load(c, &f))
		return;
	struct buf d = audit_begin();
	audit_admin(c, "admin_replicas", &d);
	struct buf *b = resp_json(c, 200);
	json_kv_str(b, "time", f.time);
	json_kv_int(b, "window_seconds", FLEET_WINDOW_SECONDS);
	json_kv_int(b, "gone_after_heartbeats", HEARTBEAT_GONE_AFTER);
	json_key(b, "replicas");
	buf_addc(b, '[');
	for (int i = 0; i < f.n; i++) {
		const struct fleet_replica *r = &f.r[i];
		buf_adds(b, i ? ",{" : "{");
		json_kv_str(b, "replica", r->replica);
		json_kv_str(b, "region", r->region);
		json_kv_str(b, "version", r->version);
		json_kv_str(b, "started_at", r->started_at);
		json_kv_num(b, "uptime_seconds", r->uptime);
		json_kv_str(b, "last_heartbeat", r->last_heartbeat);
		json_kv_num(b, "heartbeat_age_seconds", r->age);
		json_kv_num(b, "heartbeat_seconds", r->interval);
		json_kv_bool(b, "ready", r->ready);
		json_kv_bool(b, "draining", r->draining);
		json_fleet_counts(b, r);
		json_kv_num(b, "window_seconds", r->window);
		buf_addc(b, '}');
	}
	buf_adds(b, "]");
	json_key(b, "totals");
	buf_addc(b, '{');
	json_kv_int(b, "replicas", f.n);
	json_kv_int(b, "ready", f.n_ready);
	json_kv_int(b, "draining", f.n_draining);
	json_fleet_counts(b, &f.total);
	buf_addc(b, '}');
	resp_end(c);
	PQclear(f.res);
}

static const char FLEET_CSP[] = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none';"
				" form-action 'none'; frame-ancestors 'self'";

/* A duration as "2d 3h", "4h 5m", "6m 7s" or "8s". */
static void html_duration(struct buf *b, double seconds)
{
	long long t = seconds > 0 ? (long long)seconds : 0;
	if (t >= 86400)
		buf_printf(b, "%lldd %lldh", t / 86400, t % 86400 / 3600);
	else if (t >= 3600)
		buf_printf(b, "%lldh %lldm", t / 3600, t % 3600 / 60);
	else if (t >= 60)
		buf_printf(b, "%lldm %llds", t / 60, t % 60);
	else
		buf_printf(b, "%llds", t);
}

/* One decimal and a unit, or a dash where there is no number (NAN). */
static void html_num(struct buf *b, double v, const char *unit)
{
	if (isfinite(v))
		buf_printf(b, "%.1f%s", v, unit);
	else
		buf_adds(b, "&#8211;");
}

/* A line over the last hour as inline SVG, oldest bin left; NAN is a gap. Every point is a circle
   with its value as its title (a tooltip). */
static void svg_plot(struct buf *b, const char *id, const char *title, const double v[FLEET_BINS])
{
	enum { W = 600, H = 150 };
	double top = 0;
	for (int i = 0; i < FLEET_BINS; i++)
		top = isfinite(v[i]) && v[i] > top ? v[i] : top;
	buf_printf(
		b,
		"<figure id=\"%s\"><figcaption>%s, last hour (highest %.1f)</figcaption><svg viewBox=\"0 0 "
		"%d %d\" role=\"img\" aria-label=\"%s\"><rect width=\"%d\" height=\"%d\"/>",
		id, title, top, W, H, title, W, H);
	top = top > 0 ? top * 1.1 : 1;
	for (int pass = 0; pass < 2; pass++) { /* the lines between neighbours, then the points */
		bool line = false;
		for (int i = 0; i <= FLEET_BINS; i++) {
			bool has = i < FLEET_BINS && isfinite(v[i]);
			double x = (i + 0.5) * W / FLEET_BINS, y = has ? H - v[i] / top * H : 0;
			if (has && pass)
				buf_printf(b,
					   "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" "
					   "r=\"2.5\"><title>%.1f</title></circle>",
					   x, y, v[i]);
			else if (has)
				buf_printf(b, "%s%.1f,%.1f", line ? " " : "<polyline points=\"", x, y);
			else if (line)
				buf_adds(b, "\"/>");
			line = has && !pass;
		}
	}
	buf_adds(b, "</svg><div class=\"axis\"><span>60 min ago</span><span>now</span></div></figure>");
}

/*
 * The dashboard's fleet frame: a row per live replica, the fleet's totals and its request rate
 * and p99 over the last hour, reloaded every FLEET_REFRESH_SECONDS by the page itself (no
 * script). Its open is not audited: the dashboard around it was, and it reloads all the time.
 */
/*
 * The final bins of the hour's plots (FLEET_FINAL_BINS old and more), kept by the replica that
 * drew them, so that a frame asks PostgreSQL for the last few bins only, not for every row of the
 * hour: its cost stays that of a few minutes of heartbeats however many replicas beat how often.
 * A slot holds the absolute bin `bin[i % FLEET_BINS]`; `upto`: every bin before it is here.
 */
static struct {
	pthread_mutex_t mu;
	long long upto, bin[FLEET_BINS];
	bool seen[FLEET_BINS];
	double h[FLEET_BINS][FLEET_SLOTS];
} FLEET_CACHE = {.mu = PTHREAD_MUTEX_INITIALIZER};

/*
 * The hour's histograms into h (oldest bin first; seen: a bin with data), the final bins from
 * FLEET_CACHE and the others from SQL_FLEET_HISTORY, which then fill the cache; false when the
 * query failed.
 */
static bool fleet_history(struct ctx *c, double h[FLEET_BINS][FLEET_SLOTS], bool seen[FLEET_BINS])
{
	pthread_mutex_lock(&FLEET_CACHE.mu);
	long long from = FLEET_CACHE.upto;
	pthread_mutex_unlock(&FLEET_CACHE.mu);
	char param[24];
	snprintf(param, sizeof param, "%lld", from);
	const char *params[] = {param};
	PGresult *res;
	if (db_query_rc(c, Q_FLEET_HISTORY, 1, params, &res))
		return false;
	long long now = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0, first = now - FLEET_BINS + 1;
	if (first <= 0) { /* no clock: nothing to draw */
		PQclear(res);
		return false;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		long long bin = atoll(PQgetvalue(res, i, 1));
		int k = atoi(PQgetvalue(res, i, 2)) - 1;
		if (!PQgetisnull(res, i, 1) && bin >= first && bin <= now && bin >= from && k >= 0 &&
		    k < FLEET_SLOTS)
			h[bin - first][k] += atof(PQgetvalue(res, i, 3)), seen[bin - first] = true;
	}
	PQclear(res);
	pthread_mutex_lock(&FLEET_CACHE.mu);
	for (long long bin = first; bin <= now; bin++) {
		int i = (int)(bin - first), slot = (int)(bin % FLEET_BINS);
		if (bin < from && FLEET_CACHE.bin[slot] == bin) { /* final, and here */
			memcpy(h[i], FLEET_CACHE.h[slot], sizeof h[i]);
			seen[i] = FLEET_CACHE.seen[slot];
		} else if (bin >= from && bin < now - FLEET_FINAL_BINS) {
			memcpy(FLEET_CACHE.h[slot], h[i], sizeof h[i]);
			FLEET_CACHE.seen[slot] = seen[i];
			FLEET_CACHE.bin[slot] = bin;
		}
	}
	/* every final bin of the hour is here now, unless another frame moved on meanwhile */
	if (now - FLEET_FINAL_BINS > FLEET_CACHE.upto && from == FLEET_CACHE.upto)
		FLEET_CACHE.upto = now - FLEET_FINAL_BINS;
	pthread_mutex_unlock(&FLEET_CACHE.mu);
	return true;
}

static void h_admin_fleet_page(struct ctx *c)
{
	struct fleet f;
	if (!admin_page_ok(c) || fleet_load(c, &f))
		return;
	double h[FLEET_BINS][FLEET_SLOTS] = {{0}}, rate[FLEET_BINS], p99[FLEET_BINS];
	bool seen[FLEET_BINS] = {0};
	/* without its history the page still shows the replicas, and still reloads itself */
	bool history = fleet_history(c, h, seen);
	for (int i = 0; i < FLEET_BINS; i++) {
		double n = 0;
		for (int k = 0; k < FLEET_SLOTS; k++)
			n += h[i][k];
		rate[i] = seen[i] ? n : NAN;
		p99[i] = seen[i] ? hist_quantile_ms(h[i], 0.99) : NAN;
	}
	c->status = 200;
	c->ctype = "text/html; charset=utf-8";
	resp_header(c, "Content-Security-Policy", FLEET_CSP);
	resp_header(c, "X-Frame-Options", "SAMEORIGIN"); /* as frame-ancestors, for older browsers */
	struct buf *b = &c->body;
	buf_printf(
		b,
		"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta http-equiv=\"refresh\" content=\"%d\"><title>Fleet</title><style>"
		"body{font-family:system-ui,sans-serif;margin:.5rem;color:#222}"
		"table{border-collapse:collapse;width:100%%}th,td{border-bottom:1px solid #eee;padding:.3rem;"
		"text-align:left}td.n,th.n{text-align:right}.draining{color:#b60}.unready{color:#c00}"
		".plots{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:1rem 0 0;flex:1 1 20rem}"
		"svg{width:100%%;height:auto}rect{fill:#fafafa;stroke:#ddd}polyline{fill:none;stroke:#36c;"
		"stroke-width:1.5}circle{fill:#36c}.axis{display:flex;justify-content:space-between;"
		"font-size:.8rem;color:#666}</style></head><body>",
		FLEET_REFRESH_SECONDS);
	buf_printf(b, "<p id=\"fleet-totals\">%d replica%s: %d ready, %d draining; ", f.n,
		   f.n == 1 ? "" : "s", f.n_ready, f.n_draining);
	html_num(b, f.total.rate, " requests/s");
	buf_adds(b, ", p99 ");
	html_num(b, f.total.p99, " ms");
	buf_adds(b, " over the last minute; as of ");
	html_escape(b, f.time);
	buf_adds(b,
		 "</p><table id=\"replicas\"><thead><tr><th>Replica</th><th>Region</th><th>Version</th>"
		 "<th>Uptime</th><th>State</th><th class=\"n\" title=\"over the last minute\">Requests/s</th>"
		 "<th class=\"n\" title=\"over the last minute\">p99</th>"
		 "<th class=\"n\" title=\"5xx answers since it started\">Errors</th></tr></thead><tbody>");
	for (int i = 0; i < f.n; i++) {
		const struct fleet_replica *r = &f.r[i];
		buf_adds(b, "<tr class=\"replica\"><td>");
		html_escape(b, r->replica);
		buf_adds(b, "</td><td>");
		html_escape(b, r->region);
		buf_adds(b, "</td><td>");
		html_escape(b, r->version);
		buf_adds(b, "</td><td>");
		html_duration(b, r->uptime);
		buf_adds(b, r->draining ? "</td><td class=\"draining\">draining"
			    : r->ready  ? "</td><td>ready"
					: "</td><td class=\"unready\">not ready");
		buf_adds(b, "</td><td class=\"n\">");
		html_num(b, r->rate, "");
		buf_adds(b, "</td><td class=\"n\">");
		html_num(b, r->p99, " ms");
		buf_printf(b, "</td><td class=\"n\">%lld</td></tr>", r->errors);
	}
	if (!f.n)
		buf_adds(b, "<tr><td colspan=\"8\">No replica has sent a heartbeat lately</td></tr>");
	buf_adds(b, "</tbody></table><div class=\"plots\">");
	svg_plot(b, "plot-rate", "Fleet requests per second", rate);
	svg_plot(b, "plot-p99", "Fleet p99 latency in ms", p99);
	buf_adds(b, history ? "</div></body></html>"
			    : "</div><p id=\"no-history\">The last hour could not be read from the database "
			      "this time; the next reload tries again.</p></body></html>");
	PQclear(f.res);
}

/* ==== 16. Route table and dispatch ================================================= */

static void h_metrics(struct ctx *c);
static void h_openapi(struct ctx *c);
static void h_docs(struct ctx *c);
static void h_docs_js(struct ctx *c);
static void h_docs_css(struct ctx *c);

static const struct route ROUTES[] = {
	{"GET", "/", h_root, R_INLINE},
	{"GET", "/health", h_health, R_INLINE},
	{"GET", "/ready", h_ready, R_INLINE},
	{"GET", "/livez", h_livez, R_INLINE},
	{"POST", "/auth/check-password-strength", h_check_password_strength, R_INLINE},
	{"POST", "/auth/register", h_register, 0},
	{"POST", "/auth/login", h_login, 0},
	{"POST", "/auth/refresh", h_refresh, R_AUTH},
	{"POST", "/auth/logout", h_logout, R_AUTH},
	{"POST", "/auth/logout-all", h_logout_all, R_AUTH},
	{"POST", "/auth/check-username", h_check_username, 0},
	{"POST", "/auth/check-email", h_check_email, 0},
	{"POST", "/auth/check-phone", h_check_phone, 0},
	{"POST", "/auth/send-verification-code", h_send_verification_code, 0},
	{"POST", "/auth/verify-code", h_verify_code, 0},
	{"POST", "/auth/send-recovery-code", h_send_recovery_code, 0},
	{"POST", "/auth/verify-recovery-code", h_verify_recovery_code, 0},
	{"POST", "/auth/reset-password", h_reset_password, 0},
	{"POST", "/auth/change-password", h_change_password, R_AUTH},
	{"POST", "/auth/change-username", h_change_username, R_AUTH},
	{"POST", "/auth/unlock-account", h_unlock_account, 0},
	{"POST", "/admin/rotate-keys", h_rotate_keys, 0},
	{"POST", "/devices", h_device_save, R_WRITE | R_AUTH, .write_steps = device_save_steps,
	 .write_done = device_save_done},
	{"GET", "/devices", h_user_read, R_READ | R_AUTH, Q_DEVICES_LIST, render_devices},
	{"GET", "/devices/{device_id}", h_device_get, R_AUTH},
	{"DELETE", "/devices/{device_id}", h_device_delete, R_AUTH},
	{"GET", "/user/profile", h_user_read, R_READ | R_AUTH, Q_PROFILE_GET, render_profile},
	{"POST", "/user/profile", h_profile_save, R_WRITE | R_AUTH, .write_steps = profile_save_steps,
	 .write_done = profile_save_done},
	{"DELETE", "/user/delete", h_user_delete, R_AUTH},
	{"GET", "/user/settings", h_user_read, R_READ | R_AUTH, Q_SETTINGS_GET, render_settings},
	{"POST", "/user/settings", h_settings_save, R_AUTH},
	{"GET", "/user/privacy-zones", h_user_read, R_READ | R_AUTH, Q_ZONES_LIST, render_zones},
	{"POST", "/user/privacy-zones", h_zone_create, R_AUTH},
	{"DELETE", "/user/privacy-zones/{zone_id}", h_zone_delete, R_AUTH},
	{"GET", "/user/pinned", h_user_read, R_READ | R_AUTH, Q_PINS_LIST, render_pins},
	{"POST", "/user/pinned/{device_id}", h_pin_add, R_AUTH},
	{"DELETE", "/user/pinned/{device_id}", h_pin_delete, R_AUTH},
	{"POST", "/api/log-api-call", h_log_api_call, 0},
	{"POST", "/api/diagnostics/run", h_diagnostics, R_AUTH},
	{"POST", "/user/profile/photo", h_photo_upload, R_PHOTO | R_AUTH},
	{"GET", "/user/profile/photo", h_photo_get, R_AUTH},
	{"DELETE", "/user/profile/photo", h_photo_delete, R_AUTH},
	{"GET", "/admin/stats", h_admin_stats, 0},
	{"GET", "/admin/audit-logs", h_admin_audit_logs, 0},
	{"POST", "/admin/cleanup-audit-logs", h_admin_cleanup_audit_logs, 0},
	{"GET", "/admin/dashboard", h_admin_dashboard, 0},
	{"GET", "/admin/dashboard/fleet", h_admin_fleet_page, 0},
	{"GET", "/admin/replicas", h_admin_replicas, 0},
	{"DELETE", "/admin/clear-all-data", h_admin_clear_all_data, 0},
	{"GET", "/metrics", h_metrics, R_INLINE},
	{"GET", "/openapi.json", h_openapi, R_INLINE},
	{"GET", "/docs", h_docs, R_INLINE},
	{"GET", "/docs/app.js", h_docs_js, R_INLINE},
	{"GET", "/docs/app.css", h_docs_css, R_INLINE},
};

static const struct pg_statement PG_STATEMENTS[Q_COUNT] = {
	[Q_PROBE] = {"probe", SQL_PROBE},
	[Q_USER_SESSION] = {"user_session", SQL_USER_SESSION},
	[Q_USER_TOUCH] = {"user_touch", SQL_USER_TOUCH},
	[Q_SESSION_NEW] = {"session_new", SQL_SESSION_NEW},
	[Q_SESSION_END] = {"session_end", SQL_SESSION_END},
	[Q_SESSIONS_END_ALL] = {"sessions_end_all", SQL_SESSIONS_END_ALL},
	[Q_RATE_HIT] = {"rate_hit", SQL_RATE_HIT},
	[Q_AUDIT] = {"audit", SQL_AUDIT},
	[Q_USERNAME_TAKEN] = {"username_taken", SQL_USERNAME_TAKEN},
	[Q_EMAIL_TAKEN] = {"email_taken", SQL_EMAIL_TAKEN},
	[Q_XACT_LOCK] = {"xact_lock", SQL_XACT_LOCK},
	[Q_USER_INSERT] = {"user_insert", SQL_USER_INSERT},
	[Q_SETTINGS_INSERT] = {"settings_insert", SQL_SETTINGS_INSERT},
	[Q_LOGIN_USER] = {"login_user", SQL_LOGIN_USER},
	[Q_LOGIN_FAILED] = {"login_failed", SQL_LOGIN_FAILED},
	[Q_LOGIN_OK] = {"login_ok", SQL_LOGIN_OK},
	[Q_PHONE_TAKEN] = {"phone_taken", SQL_PHONE_TAKEN},
	[Q_CODE_REPLACE] = {"code_replace", SQL_CODE_REPLACE},
	[Q_CODE_DELETE] = {"code_delete", SQL_CODE_DELETE},
	[Q_CODE_TRY] = {"code_try", SQL_CODE_TRY},
	[Q_CODE_UNTRY] = {"code_untry", SQL_CODE_UNTRY},
	[Q_USERS_BY_EMAIL] = {"users_by_email", SQL_USERS_BY_EMAIL},
	[Q_SET_PASSWORD] = {"set_password", SQL_SET_PASSWORD},
	[Q_USER_HASH] = {"user_hash", SQL_USER_HASH},
	[Q_USERNAME_TAKEN_BY_OTHER] = {"username_taken_by_other", SQL_USERNAME_TAKEN_BY_OTHER},
	[Q_USERNAME_SET] = {"username_set", SQL_USERNAME_SET},
	[Q_UNLOCK] = {"unlock", SQL_UNLOCK},
	[Q_DEVICE_SAVE] = {"device_save", SQL_DEVICE_SAVE},
	[Q_DEVICES_LIST] = {"devices_list", SQL_DEVICES_LIST},
	[Q_DEVICE_GET] = {"device_get", SQL_DEVICE_GET},
	[Q_DEVICE_DELETE] = {"device_delete", SQL_DEVICE_DELETE},
	[Q_PROFILE_GET] = {"profile_get", SQL_PROFILE_GET},
	[Q_PROFILE_SAVE] = {"profile_save", SQL_PROFILE_SAVE},
	[Q_PHONE_TAKEN_BY_OTHER] = {"phone_taken_by_other", SQL_PHONE_TAKEN_BY_OTHER},
	[Q_EMAIL_TAKEN_BY_OTHER] = {"email_taken_by_other", SQL_EMAIL_TAKEN_BY_OTHER},
	[Q_SETTINGS_GET] = {"settings_get", SQL_SETTINGS_GET},
	[Q_SETTINGS_PUT] = {"settings_put", SQL_SETTINGS_PUT},
	[Q_ZONES_LIST] = {"zones_list", SQL_ZONES_LIST},
	[Q_ZONE_INSERT] = {"zone_insert", SQL_ZONE_INSERT},
	[Q_ZONE_OWNER] = {"zone_owner", SQL_ZONE_OWNER},
	[Q_ZONE_DELETE] = {"zone_delete", SQL_ZONE_DELETE},
	[Q_PINS_LIST] = {"pins_list", SQL_PINS_LIST},
	[Q_PIN_ADD] = {"pin_add", SQL_PIN_ADD},
	[Q_PIN_DELETE] = {"pin_delete", SQL_PIN_DELETE},
	[Q_USER_DELETE] = {"user_delete", SQL_USER_DELETE},
	[Q_API_LOG] = {"api_log", SQL_API_LOG},
	[Q_DIAG_COLUMNS] = {"diag_columns", SQL_DIAG_COLUMNS},
	[Q_DIAG_PROFILE] = {"diag_profile", SQL_DIAG_PROFILE},
	[Q_DIAG_ACTIVITY] = {"diag_activity", SQL_DIAG_ACTIVITY},
	[Q_DIAG_USER] = {"diag_user", SQL_DIAG_USER},
	[Q_PHOTO_GET] = {"photo_get", SQL_PHOTO_GET},
	[Q_PHOTO_SET] = {"photo_set", SQL_PHOTO_SET},
	[Q_ADMIN_STATS] = {"admin_stats", SQL_ADMIN_STATS},
	[Q_ADMIN_USERS] = {"admin_users", SQL_ADMIN_USERS},
	[Q_AUDIT_CLEANUP] = {"audit_cleanup", SQL_AUDIT_CLEANUP},
	[Q_CLEAR_ALL] = {"clear_all", SQL_CLEAR_ALL},
	[Q_FLEET] = {"fleet", SQL_FLEET},
	[Q_FLEET_HISTORY] = {"fleet_history", SQL_FLEET_HISTORY},
};

/* --- Metrics, API documents --- */

static size_t metric_route_index(const struct route *r)
{
	size_t n = sizeof ROUTES / sizeof ROUTES[0];
	return r && (size_t)(r - ROUTES) < n && n <= METRIC_ROUTES_MAX ? (size_t)(r - ROUTES)
								       : METRIC_ROUTES_MAX;
}

static void metric_labels(struct buf *b, size_t r)
{
	if (r < METRIC_ROUTES_MAX) {
		buf_printf(b, "route=\"%s\",method=\"%s\",", ROUTES[r].path, ROUTES[r].method);
	} else {
		buf_adds(b, "route=\"unmatched\",method=\"\",");
	}
	buf_adds(b, "replica=");
	json_cstr(b, log_replica); /* a JSON string is a valid Prometheus label value here */
}

static void h_metrics(struct ctx *c)
{
	/* private by default in production: request counts and pool state help an attacker too */
	bool token = cfg.metrics_token && *cfg.metrics_token;
	if (token || (!cfg.dev && !cfg.metrics_public)) {
		struct slice h = http_header(c->req, "Authorization");
		if (!token || h.n < 8 || memcmp(h.p, "Bearer ", 7) ||
		    !digest_matches(h.p + 7, h.n - 7, cfg.metrics_digest)) {
			resp_detail(c, 401, "Not authenticated");
			return;
		}
	}
	c->status = 200;
	c->ctype = "text/plain; version=0.0.4; charset=utf-8";
	struct buf *b = &c->body, rep = {0};
	json_cstr(&rep, log_replica);
	buf_addc(&rep, 0);
	buf_adds(b, "# HELP droplin_build_info Version of the running binary.\n# TYPE droplin_build_info "
		    "gauge\n");
	buf_printf(b, "droplin_build_info{version=\"%s\",replica=%s} 1\n", DROPLIN_VERSION, rep.p);
	buf_adds(b, "# HELP droplin_http_requests_total Requests answered, by route template and status.\n"
		    "# TYPE droplin_http_requests_total counter\n");
	size_t n_routes = sizeof ROUTES / sizeof ROUTES[0];
	for (size_t r = 0; r <= METRIC_ROUTES_MAX; r++) {
		if (r >= n_routes && r < METRIC_ROUTES_MAX)
			continue;
		for (size_t s = 0; s <= METRIC_STATUS_OTHER; s++) {
			if (!MT.requests[r][s])
				continue;
			buf_adds(b, "droplin_http_requests_total{");
			metric_labels(b, r);
			if (s < METRIC_STATUS_OTHER)
				buf_printf(b, ",status=\"%d\"} %" PRIu64 "\n", METRIC_STATUSES[s],
					   MT.requests[r][s]);
			else
				buf_printf(b, ",status=\"other\"} %" PRIu64 "\n", MT.requests[r][s]);
		}
	}
	buf_adds(b,
		 "# HELP droplin_http_request_duration_seconds Time from the request head to the response.\n"
		 "# TYPE droplin_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r <= METRIC_ROUTES_MAX; r++) {
		if (!MT.count[r])
			continue;
		uint64_t cum = 0;
		for (size_t k = 0; k < METRIC_N_BUCKETS; k++) {
			cum += MT.buckets[r][k];
			buf_adds(b, "droplin_http_request_duration_seconds_bucket{");
			metric_labels(b, r);
			buf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", METRIC_BUCKETS[k], cum);
		}
		buf_adds(b, "droplin_http_request_duration_seconds_bucket{");
		metric_labels(b, r);
		buf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", MT.count[r]);
		buf_adds(b, "droplin_http_request_duration_seconds_sum{");
		metric_labels(b, r);
		buf_printf(b, "} %.6f\n", MT.sum[r]);
		buf_adds(b, "droplin_http_request_duration_seconds_count{");
		metric_labels(b, r);
		buf_printf(b, "} %" PRIu64 "\n", MT.count[r]);
	}
	int open, idle, waiting;
	pg_pool_counts(&open, &idle, &waiting);
	struct {
		const char *name, *type, *help;
		double value;
	} gauges[] = {
		{"droplin_db_pool_in_use", "gauge", "Pooled database connections lent to requests.",
		 open - idle},
		{"droplin_db_pool_idle", "gauge", "Pooled database connections waiting for work.", idle},
		{"droplin_db_pool_waiting", "gauge", "Requests waiting for a pooled connection.", waiting},
		{"droplin_db_errors_total", "counter", "Failed database connects and queries.",
		 (double)atomic_load(&P.errors)},
		{"droplin_db_up", "gauge", "1 while the database answered within HEALTH_STALE_MS.",
		 pg_healthy()},
		{"droplin_connections_open", "gauge", "Open client connections.", (double)L.n_conns},
		{"droplin_request_body_bytes", "gauge",
		 "Request body bytes held in memory (MAX_BUFFERED_BODY_BYTES).", (double)L.body_bytes},
		{"droplin_connections_refused_total", "counter", "Connections refused over a cap.",
		 (double)MT.refused},
		{"droplin_log_lines_dropped_total", "counter",
		 "Log lines dropped because stdout did not take them in time.", (double)log_dropped()},
		{"droplin_loop_reads_total", "counter",
		 "Reads answered by the event thread from one pipelined query (DB_LOOP_READS).",
		 (double)MT.loop_reads},
		{"droplin_loop_writes_total", "counter",
		 "Writes the event thread committed from its own pipelines (DB_LOOP_READS).",
		 (double)MT.loop_writes},
		{"droplin_bcrypt_jobs", "gauge", "Password hashes queued or running.",
		 (double)atomic_load(&SIDE_BCRYPT.slots)},
		{"droplin_outbound_jobs", "gauge", "Outbound calls (photos) queued or running.",
		 (double)atomic_load(&SIDE_OUTBOUND.slots)},
		{"droplin_uptime_seconds", "gauge", "Seconds since start.",
		 (double)(now_ms() - L.started_ms) / 1000},
	};
	for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
		buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{replica=%s} %.15g\n", gauges[i].name,
			   gauges[i].help, gauges[i].name, gauges[i].type, gauges[i].name, rep.p,
			   gauges[i].value);
	buf_free(&rep);
}

/* The API documents are files of docs/, compiled in (build/gen/embedded.h). */
static const char DOCS_CSP[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
	" img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static void resp_embedded(struct ctx *c, const unsigned char *data, size_t n, const char *ctype)
{
	c->status = 200;
	c->ctype = ctype;
	resp_header(c, "Content-Security-Policy", DOCS_CSP);
	resp_header(c, "Cache-Control", "public, max-age=300");
	buf_free(&c->body);
	c->body = (struct buf){.p = (char *)data, .len = n, .cap = n, .borrowed = true};
}

static void h_openapi(struct ctx *c)
{
	resp_embedded(c, EMBED_openapi_json, sizeof EMBED_openapi_json - 1, "application/json");
}

static void h_docs(struct ctx *c)
{
	resp_embedded(c, EMBED_index_html, sizeof EMBED_index_html - 1, "text/html; charset=utf-8");
}

static void h_docs_js(struct ctx *c)
{
	resp_embedded(c, EMBED_app_js, sizeof EMBED_app_js - 1, "text/javascript; charset=utf-8");
}

static void h_docs_css(struct ctx *c)
{
	resp_embedded(c, EMBED_app_css, sizeof EMBED_app_css - 1, "text/css; charset=utf-8");
}

/* Matches a path against a template, collecting {param} segments. */
static bool route_match(const char *tmpl, struct slice path, struct slice *params, int max_params)
{
	size_t i = 0;
	int np = 0;
	for (const char *t = tmpl; *t;) {
		if (*t == '{') {
			const char *close = strchr(t, '}');
			size_t start = i;
			while (i < path.n && path.p[i] != '/')
				i++;
			if (i == start || np >= max_params)
				return false;
			params[np++] = (struct slice){path.p + start, i - start};
			t = close + 1;
			continue;
		}
		if (i >= path.n || path.p[i] != *t)
			return false;
		i++, t++;
	}
	return i == path.n;
}

/*
 * The route for a request, with its {param} segments; NULL when none matches. `allow` (when
 * given) collects the methods the path does have, for a 405.
 */
static const struct route *route_find(const struct http_req *r, bool head_only, struct slice params[4],
				      char *allow, size_t allow_len)
{
	struct slice method = head_only ? S("GET") : r->method;
	for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
		const struct route *rt = &ROUTES[i];
		struct slice found[4];
		if (!route_match(rt->path, r->path, found, 4))
			continue;
		if (sl_eq(method, rt->method)) {
			memcpy(params, found, sizeof found);
			return rt;
		}
		if (allow && strlen(allow) + strlen(rt->method) + 3 < allow_len)
			strcat(strcat(allow, *allow ? ", " : ""), rt->method);
	}
	return NULL;
}

/*
 * Reads served by the event loop. An R_READ route needs the session row and its own rows,
 * both keyed by the caller's id, so once the token checks out on the loop (auth_token) both
 * statements go out in one pipeline on an idle pooled connection; the loop watches that
 * connection's socket (one-shot, tagged with the pg pointer | 1) and answers when the pipeline's
 * sync arrives. No worker hand-off, one round trip. When no connection is idle the read waits
 * in the loop's own queue (DB_ACQUIRE_TIMEOUT_MS, as on a worker) and takes the next connection
 * a loop read finishes with, or one a worker gives back (pg_release wakes the loop then).
 * Workers waiting for a connection come first. What does not fit goes the worker way
 * (h_user_read): a session whose last_seen_at is due for a refresh, and a result too large to
 * render on the loop (LOOP_RENDER_MAX_BYTES). A query past DB_QUERY_TIMEOUT_MS gets 503; its
 * connection is cancelled and closed off the loop (pg_cancel_and_close).
 */
static struct pg *loop_reads;                        /* in flight, through next_read */
static struct conn *loop_wait_head, *loop_wait_tail; /* waiting for a connection, next_job */
static int loop_n_waiting;

struct loop_write;
static bool loop_write_prepare(struct ctx *x);
static bool loop_write_send(struct pg *pg, struct ctx *x);
static void loop_write_event(struct pg *pg, struct conn *c, bool broken);

/* P.mu held: the loop's oldest waiting read comes before every waiting worker. */
static bool pg_loop_first(void) { return P.loop_ticket && (!P.waiters || P.loop_ticket < P.waiters->ticket); }

/*
 * An idle connection for the loop: for its oldest waiting read when that came before every
 * waiting worker (`queued`), or for a new read when no one waits at all. *unopened: room to
 * open one more.
 */
static struct pg *pg_try_idle(bool queued, bool *unopened)
{
	pthread_mutex_lock(&P.mu);
	struct pg *pg = NULL;
	while ((queued ? pg_loop_first() : !P.waiters) && (pg = P.idle)) {
		P.idle = pg->next;
		if (!pg_idle_gone(pg))
			break;
		pg = NULL;
	}
	if (unopened)
		*unopened = P.n_open < cfg.db_pool_size;
	atomic_store(&P.loop_waiting, !pg && loop_n_waiting);
	pthread_mutex_unlock(&P.mu);
	return pg;
}

/* The loop's queue of reads waiting for a connection, with their tickets (see P.waiters). */
static void loop_wait_push(struct conn *c)
{
	pthread_mutex_lock(&P.mu);
	c->rb->ctx.pg_ticket = ++P.next_ticket;
	if (!loop_wait_head)
		P.loop_ticket = c->rb->ctx.pg_ticket;
	pthread_mutex_unlock(&P.mu);
	queue_push(&loop_wait_head, &loop_wait_tail, c);
	loop_n_waiting++;
}

static struct conn *loop_wait_pop(void)
{
	struct conn *c = queue_pop(&loop_wait_head, &loop_wait_tail);
	loop_n_waiting--;
	pthread_mutex_lock(&P.mu);
	P.loop_ticket = loop_wait_head ? loop_wait_head->rb->ctx.pg_ticket : 0;
	if (P.n_waiting) /* workers that let an idle connection be for the loop look again */
		pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
	return c;
}

/* The session check of the token's user and session, then the steps, in one pipeline on `pg`. */
static bool loop_send(struct pg *pg, const struct ctx *x, const struct db_step *s, int n)
{
	const char *p[] = {x->token.id, x->token.sid};
	struct db_step session = {.q = Q_USER_SESSION, .n = 2, .params = p};
	if (!PQenterPipelineMode(pg->conn) || !pg_send_step(pg, &session))
		return false;
	for (int i = 0; i < n; i++)
		if (!pg_send_step(pg, &s[i]))
			return false;
	return PQpipelineSync(pg->conn) && PQflush(pg->conn) >= 0;
}

static bool loop_read_send(struct pg *pg, enum pg_stmt q, const struct ctx *x)
{
	const char *p[] = {x->token.id};
	struct db_step read = {.q = q, .n = 1, .params = p};
	return loop_send(pg, x, &read, 1);
}

/*
 * Arms the next event of a loop pipeline's connection: readable, and writable too while libpq
 * still holds unsent bytes (a pipeline larger than the socket's send buffer), since the server
 * answers nothing before the final Sync has reached it.
 */
static bool loop_read_watch(struct pg *pg)
{
	int unsent = PQflush(pg->conn);
	if (unsent < 0)
		return false;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT | (unsent ? EPOLLOUT : 0u),
				 .data.u64 = (uintptr_t)pg | 1};
	if (epoll_ctl(L.ep, pg->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, PQsocket(pg->conn), &ev))
		return false;
	pg->in_epoll = true;
	return true;
}

static bool loop_read_begin(struct conn *c, struct pg *pg);

/* The oldest waiting loop read, on `pg` (or on a worker when it cannot go on the loop). */
static void loop_read_next(struct pg *pg)
{
	struct conn *c = loop_wait_pop();
	L.n_busy--;
	if (!loop_read_begin(c, pg)) {
		worker_enqueue(c);
		conn_advance(c);
	}
}

/*
 * Done with a loop read's connection: the next waiting loop read takes it at once, unless it
 * is broken or workers are waiting for one; else it goes back to the pool.
 */
static void loop_read_release(struct pg *pg, bool broken)
{
	for (int i = 0; i < pg->n_res; i++)
		PQclear(pg->res[i]);
	pg->n_res = 0;
	pg->reader = NULL;
	broken |= pg->broken;
	if (!broken && PQpipelineStatus(pg->conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(pg->conn))
		broken = true;
	if (broken && pg->in_epoll)
		epoll_ctl(L.ep, EPOLL_CTL_DEL, PQsocket(pg->conn), NULL);
	pthread_mutex_lock(&P.mu);
	bool keep = !broken && pg_loop_first();
	pthread_mutex_unlock(&P.mu);
	if (keep)
		loop_read_next(pg);
	else
		pg_release(pg, broken);
}

/* Sends the read of `c` on `pg`; false (pg given back) when it must go to a worker instead. */
static bool loop_read_begin(struct conn *c, struct pg *pg)
{
	struct ctx *x = &c->rb->ctx;
	bool write = x->route->flags & R_WRITE;
	enum pg_stmt q = (enum pg_stmt)x->route->read_q;
	if (!(write ? loop_write_send(pg, x) : loop_read_send(pg, q, x)) || !loop_read_watch(pg)) {
		if (pg->in_epoll)
			epoll_ctl(L.ep, EPOLL_CTL_DEL, PQsocket(pg->conn), NULL);
		pg_release(pg, true);
		return false;
	}
	pg->reader = c;
	pg->deadline = now_ms() + cfg.db_query_timeout_ms;
	pg->next_read = loop_reads;
	loop_reads = pg;
	L.n_busy++;
	return true;
}

/* Takes an R_READ request on the loop; false when it must go to a worker instead. */
static bool loop_read_start(struct conn *c)
{
	struct ctx *x = &c->rb->ctx;
	if (!cfg.db_loop_reads)
		return false;
	if (auth_token(x)) { /* a bad token needs no database: the 401 is written */
		conn_respond(c);
		return true;
	}
	if ((x->route->flags & R_WRITE) && !loop_write_prepare(x))
		return false;
	bool unopened = false;
	struct pg *pg = loop_wait_head ? NULL : pg_try_idle(false, &unopened);
	if (pg)
		return loop_read_begin(c, pg);
	if (unopened || loop_n_waiting >= JOB_QUEUE_MAX)
		return false; /* a worker opens the next connection (the loop never blocks on a
				 connect); past the queue's size, the workers' queue answers 503 */
	x->t_queued = now_ms();
	loop_wait_push(c);
	L.n_busy++;
	atomic_store(&P.loop_waiting, true);
	return true;
}

/* After each batch of events: waiting loop reads take the connections that are idle now. */
static void loop_reads_resume(void)
{
	while (loop_wait_head) {
		bool unopened = false;
		struct pg *pg = pg_try_idle(true, &unopened);
		if (!pg && unopened) { /* room for one more: a worker opens it for the oldest read */
			struct conn *c = loop_wait_pop();
			L.n_busy--;
			worker_enqueue(c);
			conn_advance(c);
			return;
		}
		if (!pg)
			return;
		loop_read_next(pg);
	}
	atomic_store(&P.loop_waiting, false);
}

static void loop_read_unlink(struct pg *pg)
{
	for (struct pg **p = &loop_reads; *p; p = &(*p)->next_read)
		if (*p == pg) {
			*p = pg->next_read;
			break;
		}
	L.n_busy--;
}

/* Reads what arrived; true once the pipeline's sync is in (or the link failed: *broken). */
static bool loop_read_collect(struct pg *pg, bool *broken)
{
	int max = pg->reader->rb->ctx.route->flags & R_WRITE ? 1 + DB_STEPS_MAX : 2;
	PGconn *pc = pg->conn;
	int t = PQflush(pc) < 0 || !PQconsumeInput(pc) ? -1 : pg_pipeline_take(pc, pg->res, &pg->n_res, max);
	if (t < 0)
		*broken = true; /* the link failed, or more results came than were sent: not ours */
	return t != 0;
}

/*
 * Writes served by the event loop (R_WRITE routes: POST /devices, and POST /user/profile
 * without a new phone or e-mail), in two round trips and no worker. The first pipeline is the session check
 * and the route's steps up to COMMIT (BEGIN, the lock, the change); once its sync is in, auth_session()
 * judges the session row as on a worker, and the second pipeline ends the transaction: COMMIT (after
 * SQL_USER_TOUCH when last_seen_at is due) when the session holds and every step went through, else ROLLBACK
 * with the 401 or the error as the answer. Nothing is committed before the session is judged. A body the
 * route refuses goes to a worker, which answers in the worker's order (the token's 401 before the body's
 * 422).
 */
struct loop_write {
	struct db_step s[DB_STEPS_MAX];
	int n;             /* the route's steps, s[0..n) */
	int stage;         /* 1: the session check and the steps are out; 2: the ending is */
	int first_end;     /* where the ending's results start in pg->res */
	int n_end;         /* the ending's statements: each must have its result */
	bool commit;       /* the ending is COMMIT, not ROLLBACK */
	bool audit_failed; /* the audit insert failed: the ending keeps the change without it */
	char touch[24];    /* SESSION_TOUCH_SECONDS, SQL_USER_TOUCH's second parameter */
	const char *touch_p[3];
};

static void resp_reset(struct ctx *c)
{
	c->status = 0;
	c->ctype = NULL;
	c->body.len = 0;
	c->headers.len = 0;
	c->n_verrs = 0;
}

/* The route's steps, on the token's word for the user id; false: the worker way. */
static bool loop_write_prepare(struct ctx *x)
{
	struct loop_write *w = arena_alloc(&x->arena, sizeof *w);
	if (!w)
		return false;
	*w = (struct loop_write){.stage = 1};
	x->user.id = x->token.uid; /* only for building the steps: nothing commits unjudged */
	w->n = x->route->write_steps(x, w->s);
	x->user.id = 0;
	if (w->n < 0) {
		resp_reset(x); /* a worker answers it, in the worker's order */
		x->audit = NULL;
		return false;
	}
	x->state = w;
	return true;
}

static bool loop_write_send(struct pg *pg, struct ctx *x)
{
	struct loop_write *w = x->state;
	return loop_send(pg, x, w->s, w->n);
}

/* Results [from, from + n) of a loop pipeline, judged as every pipeline is (pg_judge). */
static int loop_results_rc(struct pg *pg, bool broken, int from, int n, const struct db_step *s, int *failed)
{
	int rc = pg_judge(pg->conn, broken, s, n, pg->res + from, pg->n_res - from, failed);
	pg->broken |= rc == PG_UNAVAILABLE;
	return rc;
}

/* The session is judged: the transaction's ending goes out on the same connection. */
static bool loop_write_end(struct pg *pg, struct ctx *x, int session, int rc)
{
	struct loop_write *w = x->state;
	struct db_step *e = &w->s[w->n];
	int k = 0;
	w->commit = session >= 0 && !rc;
	if (w->commit && session == 1) {
		snprintf(w->touch, sizeof w->touch, "%lld", cfg.session_touch_seconds);
		w->touch_p[0] = x->token.id;
		w->touch_p[1] = w->touch;
		w->touch_p[2] = x->token.sid;
		e[k++] = (struct db_step){.q = Q_USER_TOUCH, .n = 3, .params = w->touch_p};
	}
	if (w->audit_failed)
		e[k++] = (struct db_step){.sql = "ROLLBACK TO SAVEPOINT audit"};
	e[k++] = (struct db_step){.sql = w->commit ? "COMMIT" : "ROLLBACK"};
	w->stage = 2;
	w->first_end = pg->n_res;
	w->n_end = k;
	for (int i = 0; i < k; i++)
		if (!pg_send_step(pg, &e[i]))
			return false;
	pg->deadline = now_ms() + cfg.db_query_timeout_ms;
	return PQpipelineSync(pg->conn) && PQflush(pg->conn) >= 0 && loop_read_watch(pg);
}

static void loop_write_event(struct pg *pg, struct conn *c, bool broken)
{
	struct ctx *x = &c->rb->ctx;
	struct loop_write *w = x->state;
	if (w->stage == 1) {
		struct db_step session = {.q = Q_USER_SESSION};
		int failed, verdict = -1, rc = loop_results_rc(pg, broken, 0, 1, &session, &failed);
		if (rc) {
			resp_db_error(x, rc);
		} else {
			verdict = auth_session(x, pg->res[0]); /* -1: the 401 is written */
			rc = loop_results_rc(pg, broken, 1, w->n, w->s, &failed);
			if (rc == PG_FAILED && x->audit && failed == x->audit_at + 1) {
				w->audit_failed = true; /* as audit_steps_settle: keep the change */
				rc = PG_OK;
			}
			if (rc && verdict >= 0)
				resp_db_error(x, rc);
		}
		if (rc != PG_UNAVAILABLE && loop_write_end(pg, x, verdict, rc))
			return;
		if (rc != PG_UNAVAILABLE && w->commit) /* the ending could not go out */
			resp_db_error(x, PG_UNAVAILABLE);
		broken = true;
	} else {
		int failed, rc = loop_results_rc(pg, broken, w->first_end, w->n_end, &w->s[w->n], &failed);
		if (w->commit && x->audit)
			audit_done(x->audit, w->audit_failed || x->audit->over);
		if (w->commit && !rc) {
			for (int i = 0; i < w->n; i++)
				w->s[i].res = pg->res[1 + i];
			x->route->write_done(x, w->s);
			for (int i = 0; i < w->n; i++)
				w->s[i].res = NULL; /* pg->res[] owns them */
			MT.loop_writes++;
		} else if (w->commit) {
			resp_db_error(x, rc);
		}
		broken = broken || rc;
	}
	loop_read_unlink(pg);
	loop_read_release(pg, broken);
	conn_respond(c);
	conn_advance(c);
}

/* Whether the values of `r` come to at most `max` bytes. */
static bool pg_result_within(const PGresult *r, size_t max)
{
	size_t sum = 0;
	for (int row = 0, rows = PQntuples(r), cols = PQnfields(r); row < rows; row++)
		for (int col = 0; col < cols; col++)
			if ((sum += (size_t)PQgetlength(r, row, col) + 8) > max) /* + a field's framing */
				return false;
	return true;
}

/* The loop's epoll said the connection of a loop read has something. */
static void loop_read_event(struct pg *pg)
{
	struct conn *c = pg->reader;
	struct ctx *x = &c->rb->ctx;
	bool broken = false;
	if (!loop_read_collect(pg, &broken)) {
		if (!loop_read_watch(pg)) {
			loop_read_unlink(pg);
			loop_read_release(pg, true);
			resp_db_error(x, PG_UNAVAILABLE);
			conn_respond(c);
			conn_advance(c);
		}
		return;
	}
	if (x->route->flags & R_WRITE) {
		loop_write_event(pg, c, broken);
		return;
	}
	loop_read_unlink(pg);
	const struct db_step read[] = {{.q = Q_USER_SESSION}, {.q = (enum pg_stmt)x->route->read_q}};
	int failed, rc = loop_results_rc(pg, broken, 0, 2, read, &failed);
	int session = rc ? -1 : auth_session(x, pg->res[0]);
	/* a result too large to render here without delaying everyone else (LOOP_RENDER_MAX_BYTES)
	   goes to a worker to be rendered; a session that needs its refresh, to do it all again */
	bool large = session == 0 && !pg_result_within(pg->res[1], LOOP_RENDER_MAX_BYTES);
	if (rc)
		resp_db_error(x, rc);
	else if (session == 0 && !large)
		x->route->render(x, pg->res[1]);
	if (large) {
		x->loop_result = pg->res[1];
		pg->res[1] = NULL;
	}
	loop_read_release(pg, rc == PG_UNAVAILABLE);
	if (session == 1 || large) {
		if (!large)
			x->user.id = 0; /* the worker checks the session again, and refreshes it */
		worker_enqueue(c);
	} else {
		MT.loop_reads++;
		conn_respond(c);
	}
	conn_advance(c);
}

/*
 * From the timer sweep: loop reads waiting past DB_ACQUIRE_TIMEOUT_MS answer 503, as on a
 * worker; those in flight past DB_QUERY_TIMEOUT_MS go to a worker to be cancelled.
 */
static void loop_reads_expire(int64_t now)
{
	while (loop_wait_head && now >= loop_wait_head->rb->ctx.t_queued + cfg.db_acquire_timeout_ms) {
		struct conn *c = loop_wait_pop();
		L.n_busy--;
		resp_db_error(&c->rb->ctx, PG_TIMEOUT);
		conn_respond(c);
		conn_advance(c);
	}
	for (struct pg *pg = loop_reads, *next; pg; pg = next) {
		next = pg->next_read;
		if (now < pg->deadline)
			continue;
		struct conn *c = pg->reader;
		loop_read_unlink(pg);
		pg->cancel = true; /* on a thread of its own: the loop does not wait for it */
		loop_read_release(pg, true);
		resp_db_error(&c->rb->ctx, PG_TIMEOUT);
		conn_respond(c);
		conn_advance(c);
	}
}

/* Runs on a worker: the handler, or the stage it left in `next`, fills c->rb->ctx. */
static void route_run(struct conn *c)
{
	struct ctx *x = &c->rb->ctx;
	void (*stage)(struct ctx *) = x->next ? x->next : x->route->handler;
	x->next = NULL;
	stage(x);
}

static void route_dispatch(struct conn *c)
{
	struct ctx *x = &c->rb->ctx;
	const struct http_req *r = &c->rb->req;
	struct slice origin = http_header(r, "Origin");
	if (sl_eq(r->method, "OPTIONS") && origin.n && http_header(r, "Access-Control-Request-Method").n) {
		cors_preflight(x);
		conn_respond(c);
		return;
	}
	char allow[64] = "";
	const struct route *found = x->route;
	if (!found)
		route_find(r, c->head_only, x->params, allow, sizeof allow);
	if (found) {
		if (found->flags & R_INLINE) {
			found->handler(x);
			conn_respond(c);
		} else if (!(found->flags & (R_READ | R_WRITE)) || !loop_read_start(c)) {
			worker_enqueue(c);
		}
		return;
	}
	if (*allow) {
		resp_header(x, "Allow", allow);
		resp_detail(x, 405, "Method Not Allowed");
		conn_respond(c);
		return;
	}
	/* the original redirected a trailing-slash variant of a route to the path without it */
	if (r->path.n > 1 && r->path.p[r->path.n - 1] == '/') {
		struct slice trimmed = {r->path.p, r->path.n - 1}, params[4];
		for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
			if (route_match(ROUTES[i].path, trimmed, params, 4)) {
				char *loc = arena_alloc(&x->arena, trimmed.n + r->query.n + 2);
				if (!loc)
					break;
				int n = snprintf(loc, trimmed.n + r->query.n + 2, "%.*s%s%.*s",
						 (int)trimmed.n, trimmed.p, r->query.n ? "?" : "",
						 (int)r->query.n, r->query.p);
				(void)n;
				resp_header(x, "Location", loc);
				resp_json(x, 307);
				x->body.len = 0;
				x->ctype = NULL;
				conn_respond(c);
				return;
			}
	}
	resp_detail(x, 404, "Not Found");
	conn_respond(c);
}

/* ==== 17. Command-line tools: --healthcheck, --check-outbound ====================== */

/*
 * A scratch image has no curl: probe our own /livez (or path: /health, /ready), exit 0 on 200,
 * else 1. Never 2: Docker reserves it. /livez by default, so a database outage never marks a
 * container unhealthy (a restart would not bring the database back).
 */
static int cli_healthcheck(const char *path)
{
	const char *host = cfg.host;
	if (!strcmp(host, "::") || !strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg.port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg.port);
		sl = sizeof *s6;
	} else {
		return 1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {HEALTHCHECK_TIMEOUT_MS / 1000, (HEALTHCHECK_TIMEOUT_MS % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	char req[128], resp[64] = "";
	int reqlen = snprintf(req, sizeof req,
			      "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	size_t got = 0;
	if (fd >= 0 && !connect(fd, (struct sockaddr *)&ss, sl) &&
	    send(fd, req, (size_t)reqlen, MSG_NOSIGNAL) > 0) {
		ssize_t n;
		while (got < sizeof resp - 1 && (n = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0)
			got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	bool ok = !strncmp(resp, "HTTP/1.1 200 ", 13);
	fprintf(ok ? stdout : stderr, "%s: %s\n", path, got ? strtok(resp, "\r") : "no answer");
	return ok ? 0 : 1;
}

/* droplin --healthcheck [/livez | /health | /ready]: every failure, a usage error too, is 1. */
static int cli_healthcheck_main(int argc, char **argv, char *err, size_t errlen)
{
	static const char *const paths[] = {"/livez", "/health", "/ready"};
	const char *path = argc == 2 ? paths[0] : NULL;
	for (size_t i = 0; argc == 3 && i < sizeof paths / sizeof paths[0]; i++)
		if (!strcmp(argv[2], paths[i]))
			path = paths[i];
	if (!path) {
		fprintf(stderr, "droplin: usage: droplin --healthcheck [/livez | /health | /ready]\n");
		return 1;
	}
	if (cfg_load(&cfg, err, errlen)) {
		fprintf(stderr, "droplin: %s\n", err);
		return 1;
	}
	return cli_healthcheck(path);
}

static int cli_check_outbound(const char *url)
{
	long status = 0;
	char err[CURL_ERROR_SIZE + 64];
	struct buf body = {.max = OUT_MAX_RESPONSE};
	struct out_request rq = {.url = url};
	int64_t t0 = now_ms();
	int rc = out_call(&rq, &status, &body, err, sizeof err);
	buf_free(&body);
	if (rc) {
		fprintf(stderr, "outbound: %s failed after %lld ms: %s\n", url, (long long)(now_ms() - t0),
			err);
		return 1;
	}
	printf("outbound: %s answered %ld in %lld ms\n", url, status, (long long)(now_ms() - t0));
	return status >= 200 && status < 300 ? 0 : 1;
}

/* ==== 18. Signals, drain and main ================================================== */

/* DECISIONS R5: /ready fails at once; the listener closes DRAIN_SECONDS later. */
static void loop_on_signal(void)
{
	struct signalfd_siginfo si;
	while (read(L.signal_fd, &si, sizeof si) == sizeof si) {
		int64_t now = now_ms();
		if (atomic_load(&L.draining)) { /* a second signal: the operator means now */
			log_msg(LOG_WARN, "signal %u again: exiting now", si.ssi_signo);
			L.exit_deadline = now;
			continue;
		}
		atomic_store(&L.draining, true);
		L.drain_close_at = now + (int64_t)(cfg.drain_seconds * 1000);
		L.exit_deadline = now + (int64_t)(cfg.shutdown_timeout_seconds * 1000);
		log_msg(LOG_INFO, "signal %u: draining, listener closes in %.3g s", si.ssi_signo,
			cfg.drain_seconds);
	}
}

/* Returns true when the process may exit. */
static bool loop_drain_step(int64_t now, bool *forced)
{
	if (!atomic_load(&L.draining))
		return false;
	if (!L.listener_closed && now >= L.drain_close_at) {
		epoll_ctl(L.ep, EPOLL_CTL_DEL, L.listen_fd, NULL);
		close(L.listen_fd);
		L.listener_closed = true;
		for (struct conn *c = L.conns, *next; c; c = next) {
			next = c->next;
			if (c->state == CONN_HEAD && !c->rlen)
				conn_close(c); /* idle keep-alive */
		}
		log_msg(LOG_INFO, "listener closed; %lld connections finishing", L.n_conns);
	}
	if (L.listener_closed && !L.n_conns && !L.n_busy)
		return true;
	if (now >= L.exit_deadline) {
		*forced = true;
		return true;
	}
	return false;
}

/* Sleeps until the next timer sweep, or sooner when a drain step is due. */
static int loop_wait_ms(int64_t next_sweep)
{
	int64_t now = now_ms(), until = L.ready ? now : next_sweep;
	if (atomic_load(&L.draining)) {
		int64_t step = L.listener_closed ? L.exit_deadline : L.drain_close_at;
		until = step < until ? step : until;
	}
	return until <= now ? 0 : (int)(until - now);
}

static int loop_run(void)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int64_t next_sweep = now_ms() + L.tick_ms;
	bool forced = false;
	for (;;) {
		int n = epoll_wait(L.ep, events, LOOP_MAX_EVENTS, loop_wait_ms(next_sweep));
		for (int i = 0; i < n; i++) {
			uint64_t tag = events[i].data.u64;
			if (tag & 1 && tag > EV_SIGNAL) {
				loop_read_event((struct pg *)(uintptr_t)(tag & ~(uint64_t)1));
			} else if (tag == EV_LISTEN) {
				loop_accept();
			} else if (tag == EV_JOBS) {
				loop_collect_jobs();
			} else if (tag == EV_SIGNAL) {
				loop_on_signal();
			} else {
				struct conn *c = events[i].data.ptr;
				if (c->state == CONN_WRITE) {
					conn_set_deadline(c, DL_WRITE);
					conn_advance(c);
				} else if (c->state == CONN_HEAD || c->state == CONN_BODY ||
					   c->state == CONN_LINGER) {
					conn_on_readable(c);
				} else if (c->state == CONN_BUSY) {
					/* a worker owns it: silence the socket until the response is back
					   (level-triggered epoll would repeat the event meanwhile) */
					conn_watch(c, 0);
				}
			}
		}
		if (loop_wait_head)
			loop_reads_resume();
		if (L.ready)
			loop_serve_ready();
		int64_t now = now_ms();
		if (now >= next_sweep) {
			loop_sweep(now);
			loop_reads_expire(now);
			next_sweep = now + L.tick_ms;
		}
		if (loop_drain_step(now, &forced))
			break;
	}
	if (forced)
		log_msg(LOG_WARN, "shutdown timeout: exiting with %lld connections open", L.n_conns);
	else
		log_msg(LOG_INFO, "connections drained; stopping threads");
	return forced ? 1 : 0;
}

static int loop_init(char *err, size_t errlen)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread starts, so all inherit it */
	signal(SIGPIPE, SIG_IGN);
	L.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	L.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	uint32_t slots = IPTAB_MIN;
	while (slots < 2 * (uint64_t)cfg.max_connections)
		slots *= 2;
	L.iptab = calloc(slots, sizeof *L.iptab); /* untouched pages cost no memory */
	L.iptab_mask = slots - 1;
	random_bytes(&L.iptab_key, sizeof L.iptab_key);
	random_bytes(&SHARES.key, sizeof SHARES.key); /* before any thread starts */
	L.body_share = calloc(SHARE_SLOTS, sizeof *L.body_share);
	if (!L.iptab || !L.body_share) {
		snprintf(err, errlen, "out of memory for the connection table");
		return -1;
	}
	L.reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
	if (L.signal_fd < 0 || L.event_fd < 0 || L.ep < 0) {
		snprintf(err, errlen, "event loop setup failed: %s", strerror(errno));
		return -1;
	}
	if (loop_listen(err, errlen))
		return -1;
	struct {
		int fd;
		uint64_t tag;
	} fixed[] = {{L.listen_fd, EV_LISTEN}, {L.event_fd, EV_JOBS}, {L.signal_fd, EV_SIGNAL}};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = fixed[i].tag};
		epoll_ctl(L.ep, EPOLL_CTL_ADD, fixed[i].fd, &ev);
	}
	long long shortest = cfg.head_timeout_ms;
	if (cfg.idle_timeout_ms < shortest)
		shortest = cfg.idle_timeout_ms;
	if (cfg.keepalive_timeout_ms < shortest)
		shortest = cfg.keepalive_timeout_ms;
	L.tick_ms = shortest / 4;
	L.tick_ms = L.tick_ms < LOOP_TICK_MIN_MS   ? LOOP_TICK_MIN_MS
		    : L.tick_ms > LOOP_TICK_MAX_MS ? LOOP_TICK_MAX_MS
						   : L.tick_ms;
	return 0;
}

/* Condition variables wait on the monotonic clock, like every deadline in droplin. */
static void cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct threads {
	pthread_t probe, maint, mail, beat;
	bool beating;   /* HEARTBEAT_SECONDS > 0 */
	pthread_t *all; /* workers, then bcrypt threads, then outbound threads */
	long n_workers, n_bcrypt, n_outbound;
};

static int start_threads(struct threads *t)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	t->n_workers = cfg.worker_threads ? (long)cfg.worker_threads : (long)cfg.db_pool_size + cores;
	t->n_bcrypt = cfg.bcrypt_threads ? (long)cfg.bcrypt_threads : cores;
	t->n_outbound = (long)cfg.outbound_threads;
	SIDE_BCRYPT.max = cfg.bcrypt_queue_max;
	SIDE_OUTBOUND.max = cfg.outbound_queue_max;
	long n = t->n_workers + t->n_bcrypt + t->n_outbound;
	t->all = calloc((size_t)n, sizeof *t->all);
	if (!t->all)
		return -1;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
	int rc = 0;
	for (long i = 0; !rc && i < n; i++)
		rc = i < t->n_workers
			     ? pthread_create(&t->all[i], &attr, worker_main, NULL)
			     : pthread_create(&t->all[i], &attr, side_main,
					      i < t->n_workers + t->n_bcrypt ? &SIDE_BCRYPT : &SIDE_OUTBOUND);
	db_cut_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = rc ? rc : db_cut_fd < 0 ? -1 : pthread_create(&t->probe, &attr, pg_probe_main, NULL);
	rc = rc ? rc : pthread_create(&t->maint, &attr, maint_main, NULL);
	rc = rc ? rc : pthread_create(&t->mail, &attr, mail_main, NULL);
	t->beating = !rc && cfg.heartbeat_seconds > 0;
	rc = t->beating ? pthread_create(&t->beat, &attr, heartbeat_main, NULL) : rc;
	t->beating &= !rc;
	pthread_attr_destroy(&attr);
	if (rc)
		return -1;
	/* names for top -H and /proc/PID/task/N/comm (the process itself stays "droplin") */
	for (long i = 0; i < n; i++)
		pthread_setname_np(t->all[i], i < t->n_workers                 ? "dl-worker"
					      : i < t->n_workers + t->n_bcrypt ? "dl-bcrypt"
									       : "dl-outbound");
	pthread_setname_np(t->probe, "dl-probe");
	pthread_setname_np(t->maint, "dl-maint");
	pthread_setname_np(t->mail, "dl-mail");
	if (t->beating)
		pthread_setname_np(t->beat, "dl-heartbeat");
	return 0;
}

/* Joins `t` unless `mono_deadline` passes first; true when joined. */
static bool join_by(pthread_t t, int64_t mono_deadline)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* pthread_timedjoin_np counts on the real-time clock */
	int64_t left = mono_deadline - now_ms();
	left = left < 0 ? 0 : left;
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000)
		ts.tv_sec++, ts.tv_nsec -= 1000000000;
	return !pthread_timedjoin_np(t, NULL, &ts);
}

/* After the drain: a second signal moves *deadline to now (the operator means now). */
static void second_signal(int64_t *deadline)
{
	struct signalfd_siginfo si;
	if (read(L.signal_fd, &si, sizeof si) == sizeof si) {
		log_msg(LOG_WARN, "signal %u again: exiting now", si.ssi_signo);
		*deadline = now_ms();
	}
}

/* After the drain: joins `t` by *deadline (second_signal). */
static bool join_stopping(pthread_t t, int64_t *deadline)
{
	for (;;) {
		int64_t slice = now_ms() + SHUTDOWN_SIGNAL_CHECK_MS;
		if (join_by(t, slice < *deadline ? slice : *deadline))
			return true;
		second_signal(deadline);
		if (now_ms() >= *deadline)
			return false;
	}
}

/* Logs every mail still queued as dropped and empties the queue; the mail thread takes no more. */
static void mail_drop_queued(void)
{
	pthread_mutex_lock(&M.mu);
	M.stop = M.dropping = true;
	if (M.sending) /* its send may still end in time, but nothing waits to see it */
		log_msg(LOG_ERROR, "mail to %s dropped at shutdown while being sent (request %s)",
			M.sending->to, M.sending->request_id);
	for (struct mail *m = M.head, *next; m; m = next) {
		next = m->next;
		log_msg(LOG_ERROR, "mail to %s dropped at shutdown (request %s)", m->to, m->request_id);
		free(m->body);
		free(m);
	}
	M.head = M.tail = NULL;
	M.n = 0;
	pthread_mutex_unlock(&M.mu);
}

/*
 * Stops every thread by `deadline` (SHUTDOWN_TIMEOUT_SECONDS after the signal): queued mail
 * is sent until then and logged as dropped after it; a thread still busy then (a mail or a
 * maintenance statement that waits) is left to the process's exit. True when all stopped.
 */
static bool stop_threads(struct threads *t, int64_t deadline)
{
	if (deadline < now_ms() + SHUTDOWN_IDLE_STOP_MS) /* idle threads stop cleanly in any case */
		deadline = now_ms() + SHUTDOWN_IDLE_STOP_MS;
	pthread_mutex_lock(&L.mu);
	L.stopping = true;
	pthread_cond_broadcast(&L.work_cv);
	pthread_cond_broadcast(&SIDE_BCRYPT.cv);
	pthread_cond_broadcast(&SIDE_OUTBOUND.cv);
	pthread_mutex_unlock(&L.mu);
	pthread_mutex_lock(&P.mu);
	P.probe_stop = true;
	maint_stop();
	pthread_cond_broadcast(&P.probe_cv);
	pthread_mutex_unlock(&P.mu);
	pthread_mutex_lock(&M.mu);
	M.stop = true;
	pthread_cond_signal(&M.cv);
	pthread_mutex_unlock(&M.mu);
	bool all = true;
	for (long i = 0; i < t->n_workers + t->n_bcrypt + t->n_outbound; i++)
		all &= join_stopping(t->all[i], &deadline);
	/* the cancel's turn: at most PG_CANCEL_GRACE_MS and half the time left */
	int64_t left = deadline - now_ms(),
		grace = now_ms() + (left / 2 < PG_CANCEL_GRACE_MS ? left / 2 : PG_CANCEL_GRACE_MS);
	int64_t granted = grace;
	bool maint = join_stopping(t->maint, &grace);
	if (!maint && grace < granted) /* a second signal */
		deadline = grace;
	maint_cut(); /* whatever still waits on PostgreSQL stops waiting */
	all &= maint || join_stopping(t->maint, &deadline);
	all &= join_stopping(t->probe, &deadline);
	all &= !t->beating || join_stopping(t->beat, &deadline);
	int64_t cancels_by = now_ms() + PG_CANCEL_GRACE_MS; /* pg_cancel_send */
	while (atomic_load(&pg_cancels) && now_ms() < deadline && now_ms() < cancels_by) {
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000000}, NULL);
		second_signal(&deadline);
	}
	bool mail = join_stopping(t->mail, &deadline);
	if (!mail)
		mail_drop_queued();
	free(t->all);
	if (!all || !mail) {
		log_msg(LOG_WARN, "shutdown timeout: exiting with %s still busy", mail ? "a thread" : "mail");
		return false;
	}
	while (P.idle) {
		struct pg *pg = P.idle;
		P.idle = pg->next;
		PQfinish(pg->conn);
		free(pg);
	}
	return true;
}

static int fail_startup(const char *err)
{
	fprintf(stderr, "droplin: %s\n", err);
	log_msg(LOG_ERROR, "%s", err);
	log_stop(now_ms() + LOG_FLUSH_MS);
	return 2;
}

int main(int argc, char **argv)
{
	char err[512];
	static char hostname[256];
	L.started_ms = now_ms();
	if (argc > 1 && !strcmp(argv[1], "--help")) {
		cfg_help(stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("droplin %s\n%s", DROPLIN_VERSION, DROPLIN_LIBRARIES);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--healthcheck"))
		return cli_healthcheck_main(argc, argv, err, sizeof err);
	bool outbound = argc == 3 && !strcmp(argv[1], "--check-outbound");
	if (argc > 1 && !outbound) {
		cfg_help(stderr);
		return 2;
	}
	if (cfg_load(&cfg, err, sizeof err))
		return fail_startup(err);
	gethostname(hostname, sizeof hostname - 1);
	log_replica = cfg.replica && *cfg.replica ? cfg.replica : hostname;
	if (!*log_replica || !replica_name_ok(log_replica))
		return fail_startup(
			"the host name is no replica name (UTF-8 text of at most 200 bytes "
			"without control or invisible characters, not empty): set RAILWAY_REPLICA_ID");
	if (out_init(err, sizeof err) || cld_init(err, sizeof err))
		return fail_startup(err);
	if (outbound)
		return cli_check_outbound(argv[2]);
	if (cfg_check_database(&cfg, err, sizeof err) || cfg_check_secrets(&cfg, err, sizeof err))
		return fail_startup(err);
	raise_fd_limit();
	cond_init_monotonic(&P.cv);
	cond_init_monotonic(&P.probe_cv);
	if (loop_init(err, sizeof err)) /* blocks the signals first, for every thread after it */
		return fail_startup(err);
	if (log_start())
		return fail_startup("cannot start the log thread");
	struct threads threads = {0};
	if (start_threads(&threads))
		return fail_startup("cannot start threads");
	char fields[128];
	struct buf f = {.p = fields, .cap = sizeof fields, .max = sizeof fields, .borrowed = true};
	json_kv_int(&f, "port", loop_port());
	json_kv_str(&f, "version", DROPLIN_VERSION);
	json_kv_str(&f, "environment", cfg.env);
	log_emit(LOG_INFO, "listening", &f);
	int rc = loop_run();
	bool stopped = !rc && stop_threads(&threads, L.exit_deadline);
	if (stopped) /* the last line: the threads' own come before it */
		log_msg(LOG_INFO, "drained, exiting");
	if (rc) /* forced: in-flight work is abandoned, the kernel closes the rest */
		mail_drop_queued();
	log_stop(now_ms() + LOG_FLUSH_MS); /* the last lines, unless stdout is stuck */
	if (!stopped) /* threads still run: no exit handler may tear down what they use */
		_exit(1);
	return 0;
}
