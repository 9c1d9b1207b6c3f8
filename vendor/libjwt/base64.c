/* droplin's base64 for libjwt: see base64.h. */
#include <string.h>

#include "base64.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int jwt_Base64encode(char *out, const char *in, int len)
{
	const unsigned char *p = (const unsigned char *)in;
	char *o = out;
	unsigned long v;
	int i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = b64_alphabet[v >> 6 & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < len) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (int)(o - out);
}

/* Value of one base64 character, or -1. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int jwt_Base64decode(char *out, const char *in)
{
	size_t n = strlen(in), i, m = 0;
	unsigned long v;
	int pad, k, d;

	if (n == 0 || n % 4 != 0)
		return 0;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		if (i + 4 == n && in[n - 1] == '=')
			pad = in[n - 2] == '=' ? 2 : 1;
		v = 0;
		for (k = 0; k < 4; k++) {
			d = k < 4 - pad ? b64_value(in[i + (size_t)k]) : 0;
			if (d < 0)
				return 0;
			v = v << 6 | (unsigned long)d;
		}
		/* Reject non-canonical encodings: unused bits must be zero. */
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
			return 0;
		out[m++] = (char)(v >> 16 & 0xff);
		if (pad < 2)
			out[m++] = (char)(v >> 8 & 0xff);
		if (pad < 1)
			out[m++] = (char)(v & 0xff);
	}
	return (int)m;
}
