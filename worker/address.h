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

/*
 * Is S (LEN octets, at most MAX) dotted labels of 1 to 63 octets each:
 * letters, digits and '-' (not first or last in a label), and also, by
 * FLAGS, octets above 127 (U-labels, RFC 6531), '_' (seen in PTR names), and
 * a last label that must not be all digits (so no "192.0.2.1")?  Pure.
 */
#define NAME_UTF8           0x1
#define NAME_UNDERSCORE     0x2
#define NAME_NOT_NUMERIC    0x4
int dotted_name_valid(const char *s, size_t len, size_t max, int flags);

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
