/* SPDX-License-Identifier: ISC */
/*
 * spool.h - the message being received, written to an unlinked temporary
 * file (never held in memory) and handed to the data hook as its stdin.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stddef.h>

struct spool {
	int fd;
	int error;              /* errno of the first failed write, or 0 */
	size_t len;             /* bytes in buf */
	long long written;      /* bytes of this message in the file */
	long long file_size;    /* the file's size: it may hold an older, longer message */
	char *buf;              /* SPOOL_BUF octets, the worker's one buffer (not
				 * in the session, which is zeroed at every connection) */
};

#define SPOOL_BUF 65536

/* An anonymous read-write file in DIR (never linked).  fd, or -1. */
int spool_tmpfile(const char *dir);
/* Open an anonymous file in DIR.  Returns 0, or -1 with errno set. */
int spool_open(struct spool *, const char *dir);
/* Empty it for the next message. */
int spool_reset(struct spool *);
void spool_write(struct spool *, const char *data, size_t len);
/* Write out the buffer and rewind to the start.  0, or -1 with errno set. */
int spool_finish(struct spool *);
/* FD was handed to another program: if it is (another descriptor of) the
 * spool file, spool_close closes that rather than keep it for the
 * worker's next session. */
void spool_shared(int fd);
/* End of the session: close the file, or keep it for the worker's next
 * session (its next message overwrites it). */
void spool_close(struct spool *);

#endif
