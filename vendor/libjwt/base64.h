/* droplin's base64 for libjwt 1.17.2 (replaces upstream's APSL base64.c,
   which Debian's orig tarball leaves out).  Standard alphabet, padded;
   jwt.c converts to and from base64url itself. */
#ifndef DROPLIN_JWT_BASE64_H
#define DROPLIN_JWT_BASE64_H

/* Encode len bytes of in as padded base64 into out, NUL-terminated.
   out must hold 4 * ((len + 2) / 3) + 1 bytes.  Returns the string length. */
int jwt_Base64encode(char *out, const char *in, int len);

/* Decode the padded base64 string in into out, which must hold
   3 * strlen(in) / 4 bytes (no NUL is written).  Returns the number of
   bytes, or 0 if in is empty, not a multiple of 4 long, has a character
   outside the alphabet, misplaced padding or non-zero unused bits. */
int jwt_Base64decode(char *out, const char *in);

#endif
