/* SPDX-License-Identifier: ISC */
/*
 * noop-policy.c - the persistent no-op hook in C: reads each request of the
 * Postfix policy protocol (and the size=N bytes of message after a
 * postern_data request; other requests carry the client's SIZE= in size=
 * with nothing after them) and answers action=OK.  bench/run compiles it to
 * measure what Postern itself costs with a hook that costs nothing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
	static char buf[1 << 16];
	size_t len = 0;

	for (;;) {
		char *end = NULL, *p;
		unsigned long size = 0;
		int data = 0;

		while (!(len > 0 && buf[0] == '\n') && (end = memmem(buf, len, "\n\n", 2)) == NULL) {
			ssize_t n;
			if (len == sizeof(buf))
				return 1;
			if ((n = read(0, buf + len, sizeof(buf) - len)) <= 0)
				return 0;
			len += (size_t)n;
		}
		if (buf[0] == '\n')
			end = buf - 1;  /* an empty request: "\n" */
		for (p = buf; p < end; p = strchr(p, '\n') + 1)
			if (strncmp(p, "size=", 5) == 0)
				size = strtoul(p + 5, NULL, 10);
			else if (strncmp(p, "request=postern_data\n", 21) == 0)
				data = 1;
		if (!data)      /* size= of MAIL FROM SIZE=: no bytes follow */
			size = 0;
		end += 2;
		memmove(buf, end, len - (size_t)(end - buf));
		len -= (size_t)(end - buf);
		while (size > 0) {      /* the message: thrown away */
			size_t take = size < len ? size : len;
			ssize_t n;
			memmove(buf, buf + take, len - take);
			len -= take;
			size -= take;
			if (size == 0)
				break;
			if ((n = read(0, buf + len, sizeof(buf) - len)) <= 0)
				return 0;
			len += (size_t)n;
		}
		if (write(1, "action=OK\n\n", 11) != 11)
			return 1;
	}
}
