/* SPDX-License-Identifier: ISC */
/*
 * header.h - pure functions over message header fields (RFC 5322 2.2):
 * checking a header a step wants to add, finding the fields of a header
 * section as it streams past, and recognising an Authentication-Results
 * field that carries our own authserv-id (RFC 8601 5).
 */
#ifndef POSTERN_HEADER_H
#define POSTERN_HEADER_H

#include <stddef.h>

#define HEADER_LINE_MAX 998     /* RFC 5322 2.1.1, without CRLF */

/* Is LINE (LEN octets, no line end) one valid field "Name: value": a
 * printable-ASCII name without colon, a colon, a value of printable ASCII
 * and tabs, at most 998 octets?  NULL if so, else why not. */
const char *header_check(const char *line, size_t len);

/*
 * The fields of a header section, fed in pieces of any size.  A field runs
 * from its first octet to the first octet of the next line that does not
 * start with a space or tab (folded lines belong to it), line ends
 * included.  The section ends at an empty line (LF or CR LF), at the end of
 * input, or when the callback says the field was no field (returns 0).
 */
#define HDR_SCAN_KEEP 2048      /* octets of each field kept for the callback */

struct hdr_scan {
	int state;
	int open;               /* a field has started */
	int done;
	long long pos;          /* offset of the next octet fed */
	long long start;        /* of the open field */
	char field[HDR_SCAN_KEEP];
	size_t kept;
	int truncated;          /* the field is longer than what is kept */
};

/* START, END: offsets of the field; FIELD: its first KEPT octets.
 * Return 1 to go on, 0 when this is not a header field (the header section
 * ended before it). */
typedef int (*hdr_field_fn)(void *arg, long long start, long long end,
    const char *field, size_t kept, int truncated);

void hdr_scan_init(struct hdr_scan *, long long offset);
/* Returns 1 once the header section is over (later input is ignored). */
int hdr_scan_feed(struct hdr_scan *, const char *p, size_t n, hdr_field_fn, void *arg);
/* End of input. */
void hdr_scan_end(struct hdr_scan *, hdr_field_fn, void *arg);

enum ar_match {
	AR_NOT_FIELD,           /* not a header field at all */
	AR_OTHER,               /* another field, or another authserv-id */
	AR_OURS,                /* Authentication-Results with our authserv-id */
};

/* Classify one field (FIELD, LEN octets, TRUNCATED if more followed).
 * The authserv-id is the first word of the value after CFWS (a token up to
 * whitespace, ';' or '(', or a quoted-string), compared ignoring case.  A
 * field cut off before its authserv-id ends is taken as ours (it is only
 * ever removed). */
enum ar_match ar_match(const char *field, size_t len, int truncated, const char *authserv_id);

#endif
