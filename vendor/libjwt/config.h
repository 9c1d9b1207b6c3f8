/* Stub: libjwt's jwt.c includes "config.h"; droplin's build needs nothing
   from it (no HAVE_OPENSSL: RSA-PSS is refused by jwt.c itself). */
