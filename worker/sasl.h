/* SPDX-License-Identifier: ISC */
/*
 * sasl.h - SASL decoding for AUTH PLAIN and LOGIN.
 */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stddef.h>

#define SASL_FIELD_MAX  255     /* authzid, authcid, password (RFC 4616) */

/* What a client sent in AUTH PLAIN or LOGIN. */
struct sasl_credentials {
	char authzid[SASL_FIELD_MAX + 1];
	char user[SASL_FIELD_MAX + 1];
	char password[SASL_FIELD_MAX + 1];
};

/* What sasl_decode64() returns instead of a length. */
enum { SASL_DECODE_MALFORMED = -1, SASL_DECODE_TOO_LONG = -2 };

/* Strict base64 (the alphabet, padding only at the end, length a multiple
 * of 4) into OUT, NUL-terminated.  Returns the length,
 * SASL_DECODE_MALFORMED, or SASL_DECODE_TOO_LONG if it does not fit in
 * OUTMAX. */
int sasl_decode64(const char *in, char *out, size_t outmax);
/* "[authzid] NUL authcid NUL passwd", exactly two NULs, fields of at most
 * 255 octets, a non-empty authcid.  Returns 0 or -1. */
int sasl_split_plain(const char *msg, int len, struct sasl_credentials *cr);
/* Does P hold a CR, LF or NUL? */
int sasl_has_ctl(const char *p, size_t n);

#endif
