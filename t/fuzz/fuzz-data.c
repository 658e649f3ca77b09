/* SPDX-License-Identifier: ISC */
/*
 * fuzz-data.c - libFuzzer harness for the DATA reader (worker/data.c).
 * The input is fed in pieces whose sizes come from the input itself; the
 * result must not depend on the split, the end of data must be exactly
 * CRLF.CRLF, and BDAT's raw mode must keep the byte count.
 */
#include "autoconf.h"
#include "worker/data.h"
#include "worker/spool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct spool sp;
static int ready;

static size_t
run(const uint8_t *in, size_t n, size_t step, int crlf, long long *size, int *done, int *long_line)
{
	struct data_reader dr;
	size_t off = 0;

	spool_reset(&sp);
	data_reader_init(&dr, &sp, 0, crlf);
	*done = 0;
	while (off < n && !*done) {
		size_t piece = n - off < step ? n - off : step;
		size_t used = data_reader_feed(&dr, (const char *)in + off, piece, done);
		if (used > piece)
			abort();
		off += used;
	}
	*size = dr.size;
	*long_line = dr.long_line;
	return off;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long long s1, s2;
	int d1, d2, l1, l2;
	size_t c1, c2, step;

	if (!ready) {
		if (spool_open(&sp, "/tmp") < 0)
			return 0;
		ready = 1;
	}
	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	c1 = run(data + 1, size - 1, size, 1, &s1, &d1, &l1);
	c2 = run(data + 1, size - 1, step, 0, &s2, &d2, &l2);
	if (c1 != c2 || d1 != d2 || s1 != s2 || l1 != l2)
		abort();        /* the split must not matter */
	if (d1) {
		const uint8_t *end = data + 1 + c1;
		/* the data ends at CRLF "." CRLF, or the message was just "." CRLF */
		if (!(c1 >= 5 && memcmp(end - 5, "\r\n.\r\n", 5) == 0) &&
		    !(c1 == 3 && memcmp(end - 3, ".\r\n", 3) == 0))
			abort();
	}
	{       /* raw mode (BDAT) counts every byte, CRLF as 2 */
		struct data_reader dr;
		spool_reset(&sp);
		data_reader_init(&dr, &sp, 0, 0);
		data_reader_raw(&dr, (const char *)data + 1, (size - 1) / 2, 0);
		data_reader_raw(&dr, (const char *)data + 1 + (size - 1) / 2, size - 1 - (size - 1) / 2, 0);
		data_reader_raw_end(&dr);
		if (dr.size != (long long)(size - 1))
			abort();
	}
	return 0;
}
