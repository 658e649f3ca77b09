/* SPDX-License-Identifier: ISC */
/*
 * data.c - the DATA state machine.
 *
 * Only CR LF . CR LF ends the data; "LF . LF", "CR . CR", "LF . CR LF" and
 * the other smuggling sequences are message content.  A bare CR is text.  A
 * bare LF ends a line in the spool (written as the spool's line end, so that
 * it cannot be told from a CR LF there only because it was normalized), and
 * the line after it can never be the end of data ([limits] bare_newline
 * normalize, as Postfix 3.9; reject flags it too).  A line that begins with
 * "." loses that dot (transparency); the line "." alone after CR LF ends the
 * data.  The text is copied in runs (memchr), not byte by byte.
 */
#include "autoconf.h"
#include "data.h"
#include "spool.h"

#include <string.h>

#define TEXT_LINE_MAX 998       /* octets before CRLF (RFC 5321 4.5.3.1.6) */

void
data_reader_init(struct data_reader *dr, struct spool *out, long long max_size,
    int crlf)
{
	memset(dr, 0, sizeof(*dr));
	dr->state = DS_BOL;
	dr->max_size = max_size;
	dr->crlf = crlf;
	dr->out = out;
}

static void
emit(struct data_reader *dr, const char *p, size_t n, size_t wire)
{
	dr->size += (long long)wire;
	if (dr->max_size > 0 && dr->size > dr->max_size)
		dr->too_big = 1;
	if (!dr->too_big)
		spool_write(dr->out, p, n);
}

static void
text(struct data_reader *dr, const char *p, size_t n)
{
	dr->line_len += n;
	if (dr->line_len > TEXT_LINE_MAX)
		dr->long_line = 1;
	emit(dr, p, n, n);
}

/* CR LF (WIRE 2) or a bare LF (WIRE 1): the line ends, as CRLF or LF in
 * the spool. */
static void
line_end(struct data_reader *dr, size_t wire)
{
	emit(dr, dr->crlf ? "\r\n" : "\n", dr->crlf ? 2 : 1, wire);
	dr->line_len = 0;
}

/* Text up to the next CR (consumed: state DS_CR) or bare LF (consumed: a
 * line end, state DS_BOL_LF); returns the bytes used.  A run at a time. */
static size_t
text_run(struct data_reader *dr, const char *p, size_t n)
{
	const char *cr = memchr(p, '\r', n);
	size_t run = cr != NULL ? (size_t)(cr - p) : n;
	const char *lf = memchr(p, '\n', run);

	if (lf != NULL)
		run = (size_t)(lf - p);
	if (run > 0)
		text(dr, p, run);
	if (lf != NULL) {
		dr->bare_lf = 1;
		line_end(dr, 1);
		dr->state = DS_BOL_LF;
		return run + 1;
	}
	if (cr == NULL)
		return run;
	dr->state = DS_CR;
	return run + 1;
}

size_t
data_reader_feed(struct data_reader *dr, const char *p, size_t n, int *done)
{
	size_t i = 0;

	*done = 0;
	while (i < n) {
		switch (dr->state) {
		case DS_TEXT:
			i += text_run(dr, p + i, n - i);
			break;
		case DS_CR:
			if (p[i] == '\n') {
				i++;
				line_end(dr, 2);
				dr->state = DS_BOL;
			} else {
				text(dr, "\r", 1);      /* a bare CR is text */
				dr->state = DS_TEXT;
			}
			break;
		case DS_BOL:
			if (p[i] == '.') {
				i++;
				dr->state = DS_DOT;
			} else {
				dr->state = DS_TEXT;
			}
			break;
		case DS_BOL_LF:
			/* after a bare LF: a stuffed dot is dropped, but this
			 * line never ends the data */
			if (p[i] == '.')
				i++;
			dr->state = DS_TEXT;
			break;
		case DS_DOT:
			if (p[i] == '\r') {
				i++;
				dr->state = DS_DOT_CR;
			} else {
				dr->state = DS_TEXT;    /* the stuffed dot is dropped */
			}
			break;
		case DS_DOT_CR:
			if (p[i] == '\n') {
				*done = 1;
				return i + 1;
			}
			text(dr, "\r", 1);              /* ".<CR>x": dot dropped, bare CR kept */
			dr->state = DS_TEXT;
			break;
		}
	}
	return i;
}

void
data_reader_raw(struct data_reader *dr, const char *p, size_t n, int binary)
{
	size_t i = 0;

	if (binary) {
		emit(dr, p, n, n);
		return;
	}
	while (i < n) {
		if (dr->state == DS_CR) {
			if (p[i] == '\n') {
				i++;
				line_end(dr, 2);
			} else {
				text(dr, "\r", 1);
			}
			dr->state = DS_TEXT;
			continue;
		}
		i += text_run(dr, p + i, n - i);
	}
}

void
data_reader_raw_end(struct data_reader *dr)
{
	if (dr->state == DS_CR)
		text(dr, "\r", 1);
	dr->state = DS_TEXT;
}
