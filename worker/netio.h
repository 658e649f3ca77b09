/* SPDX-License-Identifier: ISC */
/*
 * netio.h - the client connection: buffered reads and writes on a
 * non-blocking socket with deadlines, in plaintext or TLS.
 *
 * Replies are buffered and flushed only when the input buffer is empty and
 * more input is needed (RFC 2920 3.2), so a pipelined group of commands is
 * answered with one write.  Whether more input is there is asked of the
 * socket only when the last read filled the buffer: a shorter read took all
 * there was, and the client is most likely waiting for our replies.
 */
#ifndef POSTERN_NETIO_H
#define POSTERN_NETIO_H

#include <stddef.h>
#include <signal.h>
#include <time.h>

#include "../common/deadline.h"

#define NETIO_RBUF 16384
#define NETIO_WBUF 16384

enum netio_status {
	NETIO_OK = 0,
	NETIO_EOF = -1,         /* the client closed the connection */
	NETIO_ERROR = -2,       /* read/write error, TLS error */
	NETIO_TIMEOUT = -3,     /* the deadline passed */
	NETIO_ABORT = -4,       /* the worker was told to close sessions now */
	NETIO_TOOLONG = -5,     /* a line longer than allowed was read and discarded */
};

struct netio {
	int fd;
	void *tls;                      /* gnutls_session_t once TLS is on */
	size_t rstart, rend;
	size_t wlen;
	int eof;
	int toolong;                    /* netio_getline is skipping an over-long line */
	int werror;                     /* a write failed: the session is over */
	int bulk;                       /* a message is streaming in (DATA, BDAT) */
	int drained;                    /* the last read took less than it had room for */
	int write_timeout;              /* seconds for a buffered write to drain */
	const sigset_t *waitmask;       /* signals let through while waiting */
	volatile int *abort_flag;       /* set by a signal: give up waiting */
	int idle_ms;                    /* see netio_set_idle() */
	int (*idle_pending)(void);
	void (*idle_run)(void);
	char rbuf[NETIO_RBUF];
	char wbuf[NETIO_WBUF];
};

void netio_init(struct netio *, int fd, const sigset_t *waitmask, volatile int *abort_flag);

/*
 * Read one line (terminated by LF; a CR before it is removed) into LINE,
 * without the line end, NUL-terminated.  A line whose length including CRLF
 * exceeds MAX is consumed up to its LF and NETIO_TOOLONG is returned.
 */
int netio_getline(struct netio *, char *line, size_t max, size_t *len,
    const struct timespec *deadline);

/* Make sure some unread input is buffered; return it in *P, *LEN. */
int netio_peek(struct netio *, const char **p, size_t *len,
    const struct timespec *deadline);
void netio_consume(struct netio *, size_t n);
/* Unread bytes in the buffer (and in the TLS layer). */
size_t netio_pending(const struct netio *);
/* Throw away everything buffered but unread (after STARTTLS). */
void netio_discard_input(struct netio *);
/* Zero every byte of the read buffer that is not unread input: what an
 * AUTH exchange left there (credentials) does not stay in memory. */
void netio_wipe_consumed(struct netio *);

/* What other files change in a connection, through these only. */
/* TLS: reads and writes go through the gnutls_session_t SESSION from now
 * on; NULL: plaintext again. */
void netio_set_tls(struct netio *, void *session);
/* The session's TLS, NULL without. */
void *netio_tls(const struct netio *);
/* A message is streaming in (DATA, BDAT): ACK at once (see fill()). */
void netio_set_bulk(struct netio *, int on);
/* Work held for a quiet moment (milter events, milter.h): when PENDING()
 * says there is some and the client keeps us waiting MS milliseconds, RUN()
 * does it, and the wait goes on. */
void netio_set_idle(struct netio *, int ms, int (*pending)(void), void (*run)(void));
/* Seconds a buffered write may take to drain when the buffer is full. */
void netio_set_write_timeout(struct netio *, int seconds);

/* Buffer a reply. */
void netio_write(struct netio *, const char *data, size_t len);
int netio_flush(struct netio *, const struct timespec *deadline);

#endif
