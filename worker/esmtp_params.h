/* SPDX-License-Identifier: ISC */
/*
 * esmtp_params.h - the ESMTP parameters of MAIL FROM and RCPT TO: SIZE
 * (RFC 1870), BODY (RFC 6152, RFC 3030 BINARYMIME), AUTH (RFC 4954),
 * SMTPUTF8 (RFC 6531), RET and ENVID, NOTIFY and ORCPT (RFC 3461 DSN),
 * REQUIRETLS (RFC 8689), MT-PRIORITY (RFC 6710).
 * Pure parsers: text in, a result and an error out; the caller replies.
 */
#ifndef POSTERN_ESMTP_PARAMS_H
#define POSTERN_ESMTP_PARAMS_H

#include <stddef.h>

enum body_type { BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

struct mail_params {
	long long size;         /* SIZE=, -1 if absent */
	enum body_type body;
	int smtputf8;
	char ret[8];            /* "FULL", "HDRS" or "" */
	char envid[101];        /* xtext as sent, or "" */
	int requiretls;         /* REQUIRETLS given (RFC 8689) */
	int has_priority;       /* MT-PRIORITY given (RFC 6710) */
	int priority;           /* its value, -9 to 9 */
};

struct rcpt_params {
	char notify[40];        /* "NEVER" or a list of SUCCESS,FAILURE,DELAY, or "" */
	char orcpt[510];        /* "addr-type;xtext" as sent, or "" */
};

/* What was wrong, and so which reply the caller sends. */
enum esmtp_error {
	ESMTP_OK = 0,
	ESMTP_NEED_EHLO,        /* parameters after HELO: 555 5.5.4 */
	ESMTP_UNKNOWN,          /* an unsupported keyword: 555 5.5.4 */
	ESMTP_BAD,              /* bad syntax, bad value, a duplicate: 501 5.5.4 */
	ESMTP_TOO_BIG,          /* SIZE over the limit: 552 5.3.4 */
};

struct esmtp_status {
	enum esmtp_error error;
	char reason[96];        /* for the reply, after "Error: " */
	char value[512];        /* the value in question (SIZE= for the log) */
};

/* What the session is, for mail_params_parse. */
#define ESMTP_EHLO      1       /* the session began with EHLO (else any parameter is an error) */
#define ESMTP_TLS       2       /* under TLS: REQUIRETLS is offered */

/*
 * Parse the parameters after the path.  FLAGS: ESMTP_EHLO, ESMTP_TLS.
 * MAX_SIZE: the message size limit, 0 for none.  Returns 0, or -1 with ST
 * saying why.
 */
int mail_params_parse(const char *params, unsigned flags, long long max_size,
    struct mail_params *, struct esmtp_status *st);
int rcpt_params_parse(const char *params, int esmtp, struct rcpt_params *,
    struct esmtp_status *st);

/* RFC 3461 4: xtext, whose decoded form must also hold no control
 * character (CR, LF and NUL above all: Exim CVE-2020-28026). */
int xtext_valid(const char *v);

#endif
