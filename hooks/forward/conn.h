/* SPDX-License-Identifier: ISC */
/*
 * conn.h - the connection to the downstream server: connect (inet:/unix:),
 * bounded writes and reply reads, STARTTLS with GnuTLS.  Every wait has a
 * deadline; a failure leaves the connection unusable (conn_close it).
 */
#ifndef POSTERN_FORWARD_CONN_H
#define POSTERN_FORWARD_CONN_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#include "reply.h"

#define CONN_IN_MAX	(REPLY_LINE_MAX * REPLY_LINES_MAX + 4096)

enum conn_err {
	CONN_OK = 0,
	CONN_IO = -1,		/* closed, reset, TLS error */
	CONN_TIMEOUT = -2,
	CONN_GARBAGE = -3,	/* a reply that does not parse */
};

struct conn {
	int fd;				/* -1: not connected */
	gnutls_session_t tls;		/* NULL: plaintext */
	size_t inlen;
	char why[256];			/* what went wrong last */
	char in[CONN_IN_MAX];
};

void conn_init(struct conn *c);
int conn_open(struct conn *c, const char *spec, int timeout);
int conn_write(struct conn *c, const char *buf, size_t n, int timeout);
int conn_command(struct conn *c, int timeout, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int conn_reply(struct conn *c, struct reply *r, int timeout);
int conn_starttls(struct conn *c, gnutls_certificate_credentials_t cred,
    const char *name, int verify, int timeout);
/* While idle: 1 when the server closed the connection or said something
 * unasked (a 421 before closing), else 0. */
int conn_gone(struct conn *c);
void conn_close(struct conn *c);

#endif
