/* SPDX-License-Identifier: ISC */
/*
 * reply.h - a pure parser for the replies of a downstream SMTP/LMTP server
 * (RFC 5321 4.2, RFC 2034 enhanced codes), and for the capabilities that an
 * EHLO/LHLO reply lists.  Every byte comes from a server we do not trust.
 */
#ifndef POSTERN_FORWARD_REPLY_H
#define POSTERN_FORWARD_REPLY_H

#include <stddef.h>

#define REPLY_LINE_MAX	2048	/* one line, CR LF included (RFC: 512) */
#define REPLY_LINES_MAX	128	/* lines in one reply */
#define REPLY_TEXT_MAX	400	/* the text kept, printable ASCII */

enum reply_err {
	REPLY_OK = 0,
	REPLY_INCOMPLETE,	/* need more bytes */
	REPLY_BAD_CODE,		/* a line without a valid 3-digit code */
	REPLY_MIXED_CODES,	/* lines of one reply with different codes */
	REPLY_TOO_LONG,		/* a line longer than REPLY_LINE_MAX */
	REPLY_TOO_MANY_LINES,	/* more than REPLY_LINES_MAX lines */
};

/* Capabilities of an EHLO/LHLO reply (RFC 5321 4.1.1.1 keywords). */
enum {
	CAP_STARTTLS	= 1u << 0,
	CAP_8BITMIME	= 1u << 1,
	CAP_BINARYMIME	= 1u << 2,
	CAP_CHUNKING	= 1u << 3,
	CAP_SMTPUTF8	= 1u << 4,
	CAP_DSN		= 1u << 5,
	CAP_PIPELINING	= 1u << 6,
	CAP_ENHANCED	= 1u << 7,
	CAP_SIZE	= 1u << 8,
	CAP_REQUIRETLS	= 1u << 9,
	CAP_XCLIENT	= 1u << 10,
	CAP_MT_PRIORITY	= 1u << 11,
};

struct reply {
	int code;			/* 200..599 */
	char enhanced[16];		/* "5.1.1" when the first line has one */
	char text[REPLY_TEXT_MAX + 1];	/* the lines' texts joined by a space */
	size_t consumed;		/* bytes of the input this reply used */
	int lines;
	unsigned caps;			/* CAP_*, from lines 2.. (EHLO replies) */
	unsigned long long size_max;	/* SIZE's value; 0: none given */
};

enum reply_err reply_parse(const char *buf, size_t len, struct reply *r);
const char *reply_strerror(enum reply_err e);

#endif
