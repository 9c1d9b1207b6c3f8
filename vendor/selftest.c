/* Self-test of the static dependency build (run by vendor/selftest.sh):
   links every library and exercises what droplin relies on.
     selftest PG_CONNINFO HTTPS_URL RESOLVE
   RESOLVE is a CURLOPT_RESOLVE entry ("host:port:127.0.0.1").  Trust anchors
   come from the header named by SELFTEST_ANCHORS (default: the generated
   Mozilla one), in the DROPLIN_TAs / DROPLIN_TAs_NUM form. */
#include <crypt.h>
#include <curl/curl.h>
#include <jwt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#ifndef SELFTEST_ANCHORS
#define SELFTEST_ANCHORS "droplin_ca_anchors.h"
#endif
#include SELFTEST_ANCHORS

static int failures;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	failures += !ok;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* bcrypt hash of "hunter2" made by Python's bcrypt (prefix 2b, cost 10). */
static void test_crypt(void)
{
	static const char hash[] =
		"$2b$10$TcoZdJaUTtuq7SXZyYqKVedQ6eoJ.PnMsDEwBCDp2LaRs/U5XNNV2";
	struct crypt_data cd;
	const char *r;

	memset(&cd, 0, sizeof cd);
	r = crypt_r("hunter2", hash, &cd);
	check(r && strcmp(r, hash) == 0, "crypt_r verifies a $2b$ hash");
	r = crypt_r("hunter3", hash, &cd);
	check(r && strcmp(r, hash) != 0, "crypt_r rejects a wrong password");
}

/* The token PyJWT 2.6 makes for these claims and key (HS256). */
static void test_jwt(void)
{
	static const char key[] = "s3cret-key-for-droplin-tests-32b";
	static const char pyjwt[] =
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
		"eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmFtZSI6IlpvZSBR"
		"Iiwic3ViIjoidXNlci00MiJ9."
		"vxysFQQ_AOjg4Gc0s_Asa7SNh58fWRc0hWogFC4pNxg";
	jwt_t *j = NULL, *d = NULL;
	jwt_valid_t *v = NULL;
	char *tok;

	jwt_new(&j);
	jwt_add_grant(j, "sub", "user-42");
	jwt_add_grant_int(j, "iat", 1700000000);
	jwt_add_grant_int(j, "exp", 4102444800);
	jwt_add_grant(j, "name", "Zoe Q");
	jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)key, (int)strlen(key));
	tok = jwt_encode_str(j);
	check(tok && strcmp(tok, pyjwt) == 0, "HS256 token byte-identical to PyJWT's");
	jwt_free_str(tok);
	jwt_free(j);

	check(jwt_decode(&d, pyjwt, (const unsigned char *)key, (int)strlen(key)) == 0,
	      "jwt_decode accepts PyJWT's token");
	jwt_valid_new(&v, JWT_ALG_HS256);
	jwt_valid_set_now(v, time(NULL));
	check(d && jwt_validate(d, v) == 0, "jwt_validate: HS256 pinned, exp ok");
	jwt_valid_free(v);
	jwt_free(d);
	d = NULL;
	check(jwt_decode(&d, pyjwt, (const unsigned char *)"wrong", 5) != 0,
	      "jwt_decode rejects a wrong key");
	jwt_free(d);
}

static void test_jsmn(void)
{
	static const char js[] = "{\"a\":[1,true,\"x\"]}";
	jsmntok_t t[8];
	jsmn_parser p;

	jsmn_init(&p);
	check(jsmn_parse(&p, js, strlen(js), t, 8) == 6, "jsmn parses");
}

static void test_pq(const char *conninfo)
{
	double t0 = now_ms();
	PGconn *c = PQconnectdb(conninfo);
	double t1 = now_ms();
	PGresult *r;

	check(PQstatus(c) == CONNECTION_OK, "PQconnectdb (scram-sha-256 over TCP)");
	if (PQstatus(c) != CONNECTION_OK)
		fprintf(stderr, "  %s", PQerrorMessage(c));
	printf("     connect took %.1f ms\n", t1 - t0);
	r = PQexec(c, "SELECT 6 * 7");
	check(PQresultStatus(r) == PGRES_TUPLES_OK &&
		      strcmp(PQgetvalue(r, 0, 0), "42") == 0, "PQexec SELECT");
	PQclear(r);
	PQfinish(c);
}

/* Install the pre-decoded anchors: a minimal X.509 engine configured like
   br_ssl_client_init_full() does, replacing curl's own (empty) one.  It must
   outlive the handshake: one per easy handle. */
static CURLcode set_anchors(CURL *curl, void *ssl_ctx, void *userptr)
{
	br_ssl_client_context *cc = ssl_ctx;
	br_x509_minimal_context *xc = userptr;

	(void)curl;
	br_x509_minimal_init(xc, &br_sha256_vtable, DROPLIN_TAs, DROPLIN_TAs_NUM);
	br_x509_minimal_set_hash(xc, br_sha1_ID, &br_sha1_vtable);
	br_x509_minimal_set_hash(xc, br_sha224_ID, &br_sha224_vtable);
	br_x509_minimal_set_hash(xc, br_sha256_ID, &br_sha256_vtable);
	br_x509_minimal_set_hash(xc, br_sha384_ID, &br_sha384_vtable);
	br_x509_minimal_set_hash(xc, br_sha512_ID, &br_sha512_vtable);
	br_x509_minimal_set_rsa(xc, br_rsa_pkcs1_vrfy_get_default());
	br_x509_minimal_set_ecdsa(xc, br_ec_get_default(),
				  br_ecdsa_vrfy_asn1_get_default());
	br_ssl_engine_set_x509(&cc->eng, &xc->vtable);
	return CURLE_OK;
}

static size_t sink(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static CURLcode https_get(const char *url, const char *resolve, int anchors,
			  double *ms)
{
	br_x509_minimal_context xc;
	struct curl_slist *rs = curl_slist_append(NULL, resolve);
	CURL *h = curl_easy_init();
	CURLcode rc;
	double t0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, rs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (anchors) {
		curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, set_anchors);
		curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &xc);
	}
	t0 = now_ms();
	rc = curl_easy_perform(h);
	*ms = now_ms() - t0;
	curl_easy_cleanup(h);
	curl_slist_free_all(rs);
	return rc;
}

static void test_curl(const char *url, const char *resolve)
{
	double ms;
	CURLcode rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("     %s\n", curl_version());
	rc = https_get(url, resolve, 1, &ms);
	check(rc == CURLE_OK, "HTTPS GET with pre-decoded anchors (SSL_CTX_FUNCTION)");
	if (rc != CURLE_OK)
		fprintf(stderr, "  curl: %s\n", curl_easy_strerror(rc));
	printf("     request took %.1f ms\n", ms);
	check(ms < 500, "no handshake stall");
	rc = https_get(url, resolve, 0, &ms);
	check(rc == CURLE_PEER_FAILED_VERIFICATION,
	      "without CAINFO or anchors the peer is not trusted");
	curl_global_cleanup();
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: selftest PG_CONNINFO HTTPS_URL RESOLVE\n");
		return 2;
	}
	test_crypt();
	test_jwt();
	test_jsmn();
	test_pq(argv[1]);
	test_curl(argv[2], argv[3]);
	printf(failures ? "%d FAILED\n" : "all passed\n", failures);
	return failures != 0;
}
