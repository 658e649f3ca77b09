/* SPDX-License-Identifier: ISC */
/*
 * writeall.c - write_all(): a whole buffer to a blocking descriptor.
 */
#include "autoconf.h"
#include "writeall.h"

#include <errno.h>
#include <unistd.h>

int
write_all(int fd, const void *buf, size_t len, size_t *written)
{
	const char *p = buf;
	size_t off = 0;
	int rc = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;     /* no progress on a blocking descriptor */
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	if (written != NULL)
		*written = off;
	return rc;
}
