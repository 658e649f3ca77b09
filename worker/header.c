/* SPDX-License-Identifier: ISC */
/*
 * header.c - pure functions over header fields: the check of a header a
 * step adds, a streaming scanner of a header section, and the
 * Authentication-Results matcher of RFC 8601 section 5 (see header.h).
 * No I/O here: message.c feeds the scanner from the spool file.
 */
#include "autoconf.h"
#include "header.h"

#include <string.h>
#include <strings.h>

const char *
header_check(const char *line, size_t len)
{
	size_t i = 0;

	if (len > HEADER_LINE_MAX)
		return "longer than 998 octets";
	while (i < len && line[i] != ':') {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x21 || c > 0x7e)
			return "the field name holds a space, a control character or 8-bit octets";
		i++;
	}
	if (i == 0)
		return "no field name";
	if (i == len)
		return "no colon after the field name";
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return "the value holds a control character (CR, LF, NUL ...) or 8-bit octets";
	}
	return NULL;
}

enum { HS_LINE_START, HS_CR_AT_START, HS_IN_LINE };

void
hdr_scan_init(struct hdr_scan *hs, long long offset)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = HS_LINE_START;
	hs->pos = offset;
}

static void
keep(struct hdr_scan *hs, char c)
{
	if (hs->kept < sizeof(hs->field))
		hs->field[hs->kept++] = c;
	else
		hs->truncated = 1;
}

/* keep() for the N octets at P. */
static void
keep_run(struct hdr_scan *hs, const char *p, size_t n)
{
	size_t room = sizeof(hs->field) - hs->kept;

	if (n > room) {
		n = room;
		hs->truncated = 1;
	}
	memcpy(hs->field + hs->kept, p, n);
	hs->kept += n;
}

/* Close the open field at END; start none. */
static void
close_field(struct hdr_scan *hs, long long end, hdr_field_fn fn, void *arg)
{
	if (hs->open && fn(arg, hs->start, end, hs->field, hs->kept, hs->truncated) == 0)
		hs->done = 1;
	hs->open = 0;
	hs->kept = 0;
	hs->truncated = 0;
}

static void
open_field(struct hdr_scan *hs, long long start)
{
	hs->open = 1;
	hs->start = start;
	hs->kept = 0;
	hs->truncated = 0;
}

int
hdr_scan_feed(struct hdr_scan *hs, const char *p, size_t n, hdr_field_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < n && !hs->done; i++, hs->pos++) {
		char c = p[i];

		switch (hs->state) {
		case HS_LINE_START:
			if ((c == ' ' || c == '\t') && hs->open) {
				keep(hs, c);
				hs->state = HS_IN_LINE;
			} else if (c == ' ' || c == '\t' || c == '\n') {
				/* an empty line, or a first line that is folded */
				close_field(hs, hs->pos, fn, arg);
				hs->done = 1;
			} else if (c == '\r') {
				hs->state = HS_CR_AT_START;
			} else {
				close_field(hs, hs->pos, fn, arg);
				open_field(hs, hs->pos);
				keep(hs, c);
				hs->state = HS_IN_LINE;
			}
			break;
		case HS_CR_AT_START:
			close_field(hs, hs->pos - 1, fn, arg);
			if (c == '\n') {
				hs->done = 1;
				break;
			}
			open_field(hs, hs->pos - 1);
			keep(hs, '\r');
			keep(hs, c);
			hs->state = c == '\n' ? HS_LINE_START : HS_IN_LINE;
			break;
		default: {
			/* the rest of the line at once: kept up to its LF */
			const char *nl = memchr(p + i, '\n', n - i);
			size_t run = nl != NULL ? (size_t)(nl - (p + i)) + 1 : n - i;
			keep_run(hs, p + i, run);
			if (nl != NULL)
				hs->state = HS_LINE_START;
			i += run - 1;           /* and the loop's one */
			hs->pos += (long long)run - 1;
			break;
		}
		}
	}
	return hs->done;
}

void
hdr_scan_end(struct hdr_scan *hs, hdr_field_fn fn, void *arg)
{
	/* a CR that began a line is not part of the field before it */
	if (!hs->done)
		close_field(hs, hs->state == HS_CR_AT_START ? hs->pos - 1 : hs->pos, fn, arg);
	hs->done = 1;
}

/* Skip folding white space and comments (with nesting and quoted-pairs).
 * Returns the offset after them, or LEN when the text ends in a comment. */
static size_t
skip_cfws(const char *p, size_t len, size_t i, int *in_comment)
{
	int depth = 0;

	*in_comment = 0;
	for (; i < len; i++) {
		char c = p[i];
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			break;
		}
	}
	*in_comment = depth > 0;
	return i;
}

enum ar_match
ar_match(const char *f, size_t len, int truncated, const char *id)
{
	static const char name[] = "Authentication-Results";
	char word[256];
	size_t i, nlen, w = 0;
	int in_comment;

	for (i = 0; i < len && f[i] != ':' && f[i] != '\n'; i++)
		;
	if (i == len || f[i] != ':')
		return truncated && i == len ? AR_OTHER : AR_NOT_FIELD;
	nlen = i;
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t'))
		nlen--;         /* obsolete syntax: WSP before the colon */
	if (nlen != sizeof(name) - 1 || strncasecmp(f, name, nlen) != 0)
		return AR_OTHER;
	i = skip_cfws(f, len, i + 1, &in_comment);
	if (i == len)
		return truncated ? AR_OURS : AR_OTHER;
	if (f[i] == '"') {
		for (i++; i < len && f[i] != '"'; i++) {
			if (f[i] == '\\' && i + 1 < len)
				i++;
			else if (f[i] == '\r' || f[i] == '\n')
				continue;       /* folded inside the quotes */
			if (w + 1 >= sizeof(word))
				return AR_OTHER;
			word[w++] = f[i];
		}
		if (i == len)
			return truncated ? AR_OURS : AR_OTHER;
	} else {
		for (; i < len && strchr(" \t\r\n;(", f[i]) == NULL; i++) {
			if (w + 1 >= sizeof(word))
				return AR_OTHER;
			word[w++] = f[i];
		}
		if (i == len && truncated)
			return AR_OURS;
	}
	word[w] = '\0';
	return w > 0 && strcasecmp(word, id) == 0 ? AR_OURS : AR_OTHER;
}
