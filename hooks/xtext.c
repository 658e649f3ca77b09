/* SPDX-License-Identifier: ISC */
/*
 * xtext.c - RFC 3461 xtext encoding.
 */
#include "xtext.h"

#include <string.h>

int
xtext_encode(const char *in, const char *also, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in != '\0'; in++) {
		unsigned char ch = (unsigned char)*in;
		if (ch < '!' || ch > '~' || ch == '+' || ch == '=' ||
		    (also != NULL && strchr(also, ch) != NULL)) {
			if (o + 3 >= outlen)
				return -1;
			out[o++] = '+';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)ch;
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}
