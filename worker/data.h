/* SPDX-License-Identifier: ISC */
/*
 * data.h - the DATA reader (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing,
 * finds the end of data, which is CRLF "." CRLF and nothing else (SMTP
 * smuggling, 2023), measures the size and the line lengths.
 */
#ifndef POSTERN_DATA_H
#define POSTERN_DATA_H

#include <stddef.h>

struct spool;

enum data_state { DS_BOL, DS_DOT, DS_DOT_CR, DS_TEXT, DS_CR, DS_BOL_LF };

struct data_reader {
	enum data_state state;
	size_t line_len;
	long long size;         /* message octets, CRLF line ends, unstuffed */
	long long max_size;     /* 0: no limit */
	int too_big;            /* size passed max_size: nothing more is spooled */
	int long_line;          /* a text line over 1000 octets with its CRLF */
	int crlf;               /* write CRLF line ends (else LF) */
	int bare_lf;            /* a bare LF was seen (stored as a line end;
				 * [limits] bare_newline = reject refuses) */
	struct spool *out;
};

void data_reader_init(struct data_reader *, struct spool *out,
    long long max_size, int crlf);

/*
 * Feed N bytes at P.  Returns how many were consumed; *DONE becomes 1 when the
 * end-of-data line has been consumed (bytes after it are left alone: they are
 * the next pipelined command).
 */
size_t data_reader_feed(struct data_reader *, const char *p, size_t n, int *done);

/*
 * BDAT (RFC 3030): N bytes of message as they are, no dot-stuffing and no
 * end marker; CRLF becomes LF as with DATA unless crlf is set (a CRLF split
 * across two chunks included).  BINARY keeps every byte and skips the line
 * length check (BODY=BINARYMIME).  data_reader_raw_end() after the LAST chunk.
 */
void data_reader_raw(struct data_reader *, const char *p, size_t n, int binary);
void data_reader_raw_end(struct data_reader *);

#endif
