/* SPDX-License-Identifier: ISC */
/*
 * reply.c - parse one SMTP/LMTP reply from the bytes a downstream server
 * sent: "NNN-text" lines then one "NNN text" line (RFC 5321 4.2.1), each
 * ended by CR LF (a bare LF is taken too).  Pure: no I/O, no allocation.
 * The text kept is printable ASCII only (anything else becomes '?'), so it
 * can go into a policy answer and on to the SMTP client unchanged.
 */
#include "reply.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	unsigned cap;
} keywords[] = {
	{ "STARTTLS", CAP_STARTTLS }, { "8BITMIME", CAP_8BITMIME },
	{ "BINARYMIME", CAP_BINARYMIME }, { "CHUNKING", CAP_CHUNKING },
	{ "SMTPUTF8", CAP_SMTPUTF8 }, { "DSN", CAP_DSN },
	{ "PIPELINING", CAP_PIPELINING }, { "ENHANCEDSTATUSCODES", CAP_ENHANCED },
	{ "SIZE", CAP_SIZE }, { "REQUIRETLS", CAP_REQUIRETLS },
	{ "XCLIENT", CAP_XCLIENT }, { "MT-PRIORITY", CAP_MT_PRIORITY },
};

const char *
reply_strerror(enum reply_err e)
{
	switch (e) {
	case REPLY_OK: return "ok";
	case REPLY_INCOMPLETE: return "incomplete reply";
	case REPLY_BAD_CODE: return "a reply line without a valid 3-digit code";
	case REPLY_MIXED_CODES: return "a multi-line reply with different codes";
	case REPLY_TOO_LONG: return "a reply line over 2048 bytes";
	case REPLY_TOO_MANY_LINES: return "a reply of more than 128 lines";
	}
	return "unknown error";
}

/* "d.ddd.ddd" of class C followed by a space or the end: its length, or 0. */
static size_t
enhanced_len(const char *p, size_t n, char c)
{
	size_t i = 0, part, digits;

	if (n < 5 || p[0] != c || p[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; i < n && isdigit((unsigned char)p[i]) && digits < 3; i++)
			digits++;
		if (digits == 0)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return 0;
	return i;
}

/* Append N bytes of line text to R->text, printable ASCII only. */
static void
add_text(struct reply *r, const char *p, size_t n)
{
	size_t len = strlen(r->text), i;

	if (len > 0 && len < REPLY_TEXT_MAX && n > 0)
		r->text[len++] = ' ';
	for (i = 0; i < n && len < REPLY_TEXT_MAX; i++) {
		unsigned char ch = (unsigned char)p[i];
		r->text[len++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	r->text[len] = '\0';
}

/* An EHLO keyword line: set its capability bit (and SIZE's value). */
static void
add_keyword(struct reply *r, const char *p, size_t n)
{
	size_t kw = 0, i;

	while (kw < n && p[kw] != ' ')
		kw++;
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strlen(keywords[i].name) != kw || strncasecmp(p, keywords[i].name, kw) != 0)
			continue;
		r->caps |= keywords[i].cap;
		if (keywords[i].cap == CAP_SIZE && kw + 1 < n) {
			char num[24];
			size_t l = n - kw - 1 < sizeof(num) - 1 ? n - kw - 1 : sizeof(num) - 1;
			memcpy(num, p + kw + 1, l);
			num[l] = '\0';
			if (strspn(num, "0123456789") == l && l < 20)
				r->size_max = strtoull(num, NULL, 10);
		}
	}
}

enum reply_err
reply_parse(const char *buf, size_t len, struct reply *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *line = buf + off, *lf;
		size_t avail = len - off, n, tl;
		int code, last;

		lf = memchr(line, '\n', avail < REPLY_LINE_MAX ? avail : REPLY_LINE_MAX);
		if (lf == NULL)
			return avail >= REPLY_LINE_MAX ? REPLY_TOO_LONG : REPLY_INCOMPLETE;
		n = (size_t)(lf - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
		    !isdigit((unsigned char)line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-'))
			return REPLY_BAD_CODE;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (r->lines > 0 && code != r->code)
			return REPLY_MIXED_CODES;
		if (++r->lines > REPLY_LINES_MAX)
			return REPLY_TOO_MANY_LINES;
		r->code = code;
		last = n == 3 || line[3] == ' ';
		tl = n > 4 ? n - 4 : 0;
		if (tl > 0) {
			size_t el = enhanced_len(line + 4, tl, line[0]);
			if (el > 0 && r->lines == 1)
				memcpy(r->enhanced, line + 4, el);
			if (el > 0)
				el += el < tl;  /* and its space */
			if (r->lines > 1)
				add_keyword(r, line + 4, tl);
			add_text(r, line + 4 + el, tl - el);
		}
		off += (size_t)(lf - line) + 1;
		if (last) {
			r->consumed = off;
			return REPLY_OK;
		}
	}
}
