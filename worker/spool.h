/* SPDX-License-Identifier: ISC */
/*
 * spool.h - the message being received: in a buffer while it is small
 * (SPOOL_MEM_MAX), else in an unlinked temporary file; written to that
 * file on demand (a data step that reads a file: message.c).
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stddef.h>

#define SPOOL_MEM_MAX 65536       /* a message up to this size stays in memory */

struct spool {
	int fd;
	int error;              /* errno of the first failed write, or 0 */
	int inmem;              /* after spool_finish: the message is buf[0..len), not in the file */
	size_t len;             /* bytes in buf */
	long long written;      /* bytes of this message in the file */
	long long file_size;    /* the file's size: it may hold an older, longer message */
	char *buf;              /* SPOOL_MEM_MAX octets, the worker's one buffer (not
				 * in the session, which is zeroed at every connection) */
};

/* An anonymous read-write file in DIR (never linked).  fd, or -1. */
int spool_tmpfile(const char *dir);
/* Open an anonymous file in DIR.  Returns 0, or -1 with errno set. */
int spool_open(struct spool *, const char *dir);
/* Empty it for the next message. */
int spool_reset(struct spool *);
void spool_write(struct spool *, const char *data, size_t len);
/* The end of the message: a message that fit in the buffer stays there
 * (inmem), else the rest of it is written out and the file rewound.  0, or
 * -1 with errno set. */
int spool_finish(struct spool *);
/* Make the file hold exactly the LEN octets at DATA (a message in memory
 * that a step needs as a file), rewound.  0, or -1 with errno set. */
int spool_store(struct spool *, const char *data, size_t len);
/* FD was handed to another program: if it is (another descriptor of) the
 * spool file, spool_close closes that rather than keep it for the
 * worker's next session. */
void spool_shared(int fd);
/* End of the session: close the file, or keep it for the worker's next
 * session (its next message overwrites it). */
void spool_close(struct spool *);

#endif
