/* SPDX-License-Identifier: ISC */
/*
 * address.h - RFC 5321 paths and ESMTP parameters: the arguments of MAIL
 * FROM and RCPT TO (sections 4.1.2 and 4.5.3.1).
 */
#ifndef POSTERN_ADDRESS_H
#define POSTERN_ADDRESS_H

#include <stddef.h>

#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX     255
#define SMTP_PATH_MAX       256         /* including the angle brackets */

enum path_error {
	PATH_OK = 0,
	PATH_SYNTAX,            /* 501 5.5.4 (no "FROM:"/"TO:", no brackets) */
	PATH_BAD_ADDRESS,       /* 501 5.1.7 / 5.1.3 */
	PATH_TOO_LONG,          /* 501 5.5.4 path too long */
	PATH_NON_ASCII,         /* 553 5.6.7 (needs SMTPUTF8) */
};

/*
 * Parse ARG, the text after the command verb ("FROM:<a@b> SIZE=10"), which
 * must begin with PREFIX ("FROM:" or "TO:", case-insensitive; spaces after the
 * colon are tolerated).  The mailbox, without angle brackets and source route,
 * is copied to MAILBOX ("" for the null path, allowed only if ALLOW_NULL).
 * ALLOW_POSTMASTER accepts a bare "Postmaster".  UTF8 allows UTF-8 in the
 * local part and domain (SMTPUTF8; the caller checked it is well-formed);
 * without it a byte above 127 gives PATH_NON_ASCII.  *PARAMS points past the path.
 * WHY gets a short reason on error.
 */
enum path_error smtp_parse_path(const char *arg, const char *prefix,
    int allow_null, int allow_postmaster, int utf8, char *mailbox,
    size_t mailboxlen, const char **params, const char **why);

/*
 * Take the next "KEYWORD[=value]" from *CURSOR.  Returns 1 and fills KEYWORD
 * (upper-cased) and VALUE ("" when absent), 0 at the end, -1 on bad syntax
 * (bad keyword, a value with characters outside 33-126 or '=', too long).
 */
int smtp_next_param(const char **cursor, char *keyword, size_t kwlen,
    char *value, size_t valuelen);

/* Is S (LEN bytes) a syntactically valid RFC 5321 Domain or address literal? */
int smtp_valid_domain(const char *s, size_t len);

#endif
