/* libjwt crypto backend over BearSSL (droplin's own): HMAC only.
   HS256/384/512 sign and verify; the RSA/EC (PEM key) pair returns EINVAL. */
#include <errno.h>
#include <string.h>

#include <bearssl_hmac.h>
#include <jwt.h>

#include "base64.h"
#include "jwt-private.h"

static const br_hash_class *hmac_hash(jwt_alg_t alg)
{
	switch (alg) {
	case JWT_ALG_HS256:
		return &br_sha256_vtable;
	case JWT_ALG_HS384:
		return &br_sha384_vtable;
	case JWT_ALG_HS512:
		return &br_sha512_vtable;
	default:
		return NULL;
	}
}

/* HMAC of str under jwt's key into out (64 bytes); returns the MAC length. */
static size_t hmac(const jwt_t *jwt, const br_hash_class *hash,
		   const char *str, size_t len, unsigned char *out)
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	br_hmac_key_init(&kc, hash, jwt->key, (size_t)jwt->key_len);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, str, len);
	return br_hmac_out(&hc, out);
}

int jwt_sign_sha_hmac(jwt_t *jwt, char **out, unsigned int *len,
		      const char *str, unsigned int str_len)
{
	const br_hash_class *hash = hmac_hash(jwt->alg);

	if (hash == NULL)
		return EINVAL;
	*out = jwt_malloc(64);
	if (*out == NULL)
		return ENOMEM;
	*len = (unsigned int)hmac(jwt, hash, str, str_len, (unsigned char *)*out);
	return 0;
}

/* Compare the base64url of the expected MAC with sig in constant time
   (jwt_strcmp), like libjwt's own backends: no decoding of sig, so one
   token has exactly one valid signature string. */
int jwt_verify_sha_hmac(jwt_t *jwt, const char *head, unsigned int head_len,
			const char *sig)
{
	const br_hash_class *hash = hmac_hash(jwt->alg);
	unsigned char mac[64];
	char b64[4 * ((sizeof mac + 2) / 3) + 1];
	size_t n;

	if (hash == NULL)
		return EINVAL;
	n = hmac(jwt, hash, head, head_len, mac);
	jwt_Base64encode(b64, (const char *)mac, (int)n);
	jwt_base64uri_encode(b64);
	return jwt_strcmp(b64, sig) == 0 ? 0 : EINVAL;
}

int jwt_sign_sha_pem(jwt_t *jwt, char **out, unsigned int *len,
		     const char *str, unsigned int str_len)
{
	(void)jwt, (void)out, (void)len, (void)str, (void)str_len;
	return EINVAL;
}

int jwt_verify_sha_pem(jwt_t *jwt, const char *head, unsigned int head_len,
		       const char *sig_b64)
{
	(void)jwt, (void)head, (void)head_len, (void)sig_b64;
	return EINVAL;
}
