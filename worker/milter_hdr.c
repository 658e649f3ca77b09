/* SPDX-License-Identifier: ISC */
/*
 * milter_hdr.c - the header fields of a message as milters count them
 * (see milter_edit.h): where each field starts and ends, folded lines
 * included, where the body starts, and a field's value as a milter is
 * given it.
 */
#include "autoconf.h"
#include "milter_edit.h"

#include <stdlib.h>
#include <string.h>

/* End of the line starting at OFF: the offset after its LF (or LEN). */
static size_t
line_end(const char *msg, size_t len, size_t off)
{
	const char *lf = memchr(msg + off, '\n', len - off);
	return lf ? (size_t)(lf - msg) + 1 : len;
}

/* Length of the field name if the line at P (N bytes) starts a header
 * field ("Name:" or the obsolete "Name :"), else 0; *COLON is the offset
 * of the colon. */
static size_t
field_name(const char *p, size_t n, size_t *colon)
{
	size_t i = 0, name;

	while (i < n && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	name = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (name == 0 || i >= n || p[i] != ':')
		return 0;
	*colon = i;
	return name;
}

long
milter_headers(const char *msg, size_t len, struct milter_hdr **hdrs,
    size_t *body, int *sep)
{
	size_t off = 0, n = 0, cap = 0;
	struct milter_hdr *v = NULL;

	*sep = 0;
	while (off < len) {
		size_t eol = line_end(msg, len, off), colon;
		size_t name;
		if ((msg[off] == ' ' || msg[off] == '\t') && n > 0) {
			v[n - 1].end = eol;     /* a folded line */
			off = eol;
			continue;
		}
		if ((eol - off == 2 && msg[off] == '\r') || eol - off == 1) {
			if (msg[off] == '\r' || msg[off] == '\n') {
				*sep = 1;
				off = eol;
				break;
			}
		}
		if ((name = field_name(msg + off, eol - off, &colon)) == 0)
			break;          /* not a header field: the body starts here */
		if (n == cap) {
			struct milter_hdr *nv;
			cap = cap ? cap * 2 : 32;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				return -1;
			}
			v = nv;
		}
		v[n].start = off;
		v[n].end = eol;
		v[n].namelen = name;
		v[n].value = colon + 1;
		n++;
		off = eol;
	}
	*body = off;
	*hdrs = v;
	return (long)n;
}

char *
milter_hdr_value(const char *msg, const struct milter_hdr *h, int leadspc)
{
	const char *p = msg + h->start + h->value, *e = msg + h->end;
	char *out, *o;

	if (!leadspc)
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
	while (e > p && (e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if ((out = o = malloc((size_t)(e - p) + 1)) == NULL)
		return NULL;
	for (; p < e; p++)
		if (*p != '\r')
			*o++ = *p;
	*o = '\0';
	return out;
}
