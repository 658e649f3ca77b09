/*
 * esmtp_params.h - the ESMTP parameters of MAIL FROM and RCPT TO: SIZE
 * (RFC 1870), BODY (RFC 6152, RFC 3030 BINARYMIME), AUTH (RFC 4954),
 * SMTPUTF8 (RFC 6531), RET and ENVID, NOTIFY and ORCPT (RFC 3461 DSN).
 */
#ifndef POSTERN_ESMTP_PARAMS_H
#define POSTERN_ESMTP_PARAMS_H

#include <stddef.h>

struct session;

enum body_type { BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

struct mail_params {
	long long size;         /* SIZE=, -1 if absent */
	enum body_type body;
	int smtputf8;
	char ret[8];            /* "FULL", "HDRS" or "" */
	char envid[101];        /* xtext as sent, or "" */
};

struct rcpt_params {
	char notify[40];        /* "NEVER" or a list of SUCCESS,FAILURE,DELAY, or "" */
	char orcpt[510];        /* "addr-type;xtext" as sent, or "" */
};

/* Parse the parameters after the path.  On an error the reply is queued and
 * -1 returned. */
int mail_params_parse(struct session *, const char *params, struct mail_params *);
int rcpt_params_parse(struct session *, const char *params, struct rcpt_params *);

/* RFC 3461 4: xtext, whose decoded form must also hold no control
 * character (CR, LF and NUL above all: Exim CVE-2020-28026). */
int xtext_valid(const char *v);

#endif
