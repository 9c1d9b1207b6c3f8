/*
 * Linked into every glibc debug build (vendor/debug.mk), never into droplin itself.
 * droplin relies on musl, whose iswupper, iswlower, iswalnum and towlower know all of Unicode
 * in any locale; glibc's know only ASCII in the "C" locale a program starts in. Switching
 * LC_CTYPE, and nothing else, to C.UTF-8 before main makes glibc classify code points as musl
 * does, so the password and username rules behave as in the release build.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void debug_ctype_utf8(void)
{
	if (!setlocale(LC_CTYPE, "C.UTF-8")) {
		fputs("debug-ctype: glibc has no C.UTF-8 locale\n", stderr);
		abort();
	}
}
