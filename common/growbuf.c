/* SPDX-License-Identifier: ISC */
/*
 * growbuf.c - growing an appended-to heap buffer (see growbuf.h).
 */
#include "autoconf.h"
#include "growbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int
growbuf_reserve(char **buf, size_t *cap, size_t need, size_t first)
{
	size_t c = *cap ? *cap : first > 0 ? first : 1;
	char *p;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		c *= 2;
	}
	if ((p = realloc(*buf, c)) == NULL)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}
