/* SPDX-License-Identifier: ISC */
/*
 * unit-data.c - tests of the DATA reader (worker/data.c): dot-unstuffing,
 * end of data only at CRLF.CRLF (SMTP smuggling), sizes, long lines, and
 * that feeding byte by byte gives the same result as feeding at once.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/data.h"
#include "worker/spool.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALL ((size_t)-1)

static struct spool sp;

/* Feed IN (LEN bytes) in pieces of STEP; return the spooled text. */
static char *
run(const char *in, size_t len, size_t step, int crlf, long long max,
    struct data_reader *dr, size_t *consumed, int *done, size_t *outlen)
{
	static char out[65536];
	size_t off = 0;
	ssize_t n;

	spool_reset(&sp);
	data_reader_init(dr, &sp, max, crlf);
	*done = 0;
	while (off < len && !*done) {
		size_t piece = len - off < step ? len - off : step;
		off += data_reader_feed(dr, in + off, piece, done);
	}
	*consumed = off;
	spool_finish(&sp);
	/* a small message stays in memory; a step that needs a file gets it
	 * there (spool_store): read what the file then holds */
	if (sp.inmem && spool_store(&sp, sp.buf, sp.len) < 0)
		return strcpy(out, "(spool_store failed)");
	n = read(sp.fd, out, sizeof(out) - 1);
	*outlen = n > 0 ? (size_t)n : 0;
	out[*outlen] = '\0';
	return out;
}

static void
expect(const char *in, size_t len, int crlf, const char *want, size_t wantlen,
    size_t want_consumed, const char *name)
{
	struct data_reader dr;
	size_t consumed, outlen, step;
	int done;
	char label[200];

	for (step = 1; step <= len; step = step < 4 ? step + 1 : len) {
		char *out = run(in, len, step, crlf, 0, &dr, &consumed, &done, &outlen);
		snprintf(label, sizeof(label), "%s (pieces of %zu)", name, step);
		if (want_consumed == ALL)
			want_consumed = len;
		ok(done == (want_consumed > 0) && consumed == (want_consumed ? want_consumed : len) &&
		    outlen == wantlen && memcmp(out, want, wantlen) == 0, label);
		if (step == len)
			break;
	}
}

#define S(x) x, sizeof(x) - 1

/* The spool: a message of up to SPOOL_MEM_MAX octets stays in memory
 * (no file I/O), a longer one goes to the file; a shorter message after a
 * longer one leaves nothing of it in the file. */
static void
spool_tests(void)
{
	static char big[SPOOL_MEM_MAX + 100], back[SPOOL_MEM_MAX + 100];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	spool_reset(&sp);
	spool_write(&sp, big, 1000);
	spool_write(&sp, big + 1000, SPOOL_MEM_MAX - 1000);
	ok(spool_finish(&sp) == 0 && sp.inmem && sp.len == SPOOL_MEM_MAX && sp.written == 0,
	    "a message of SPOOL_MEM_MAX octets stays in memory, the file untouched");
	spool_reset(&sp);
	spool_write(&sp, big, 1000);
	spool_write(&sp, big + 1000, sizeof(big) - 1000);
	ok(spool_finish(&sp) == 0 && !sp.inmem && sp.written == (long long)sizeof(big),
	    "a longer one goes to the file");
	ok(pread(sp.fd, back, sizeof(back), 0) == (ssize_t)sizeof(big) && memcmp(back, big, sizeof(big)) == 0,
	    "byte for byte");
	ok(lseek(sp.fd, 0, SEEK_CUR) == 0, "the file is rewound for a reader that shares the offset");
	spool_reset(&sp);
	spool_write(&sp, "short\r\n", 7);
	ok(spool_finish(&sp) == 0 && sp.inmem, "the next, short one in memory");
	ok(spool_store(&sp, sp.buf, sp.len) == 0 && fstat(sp.fd, &st) == 0 && st.st_size == 7 &&
	    pread(sp.fd, back, sizeof(back), 0) == 7 && memcmp(back, "short\r\n", 7) == 0,
	    "spool_store: the file holds it alone (the longer one cut off)");
}

int
main(void)
{
	struct data_reader dr;
	size_t consumed, outlen;
	int done;
	char *big, *out;
	size_t i;

	if (spool_open(&sp, "/tmp") < 0) {
		printf("1..0 # SKIP cannot open a spool file in /tmp\n");
		return 0;
	}
	expect(S("Hello\r\n.\r\n"), 1, S("Hello\r\n"), 10, "simple message, CRLF kept");
	expect(S("Hello\r\n.\r\n"), 0, S("Hello\n"), 10, "simple message, LF line ends");
	expect(S(".\r\n"), 1, "", 0, 3, "empty message");
	expect(S("..dot\r\n.\r\n"), 1, S(".dot\r\n"), 10, "dot-stuffed line is unstuffed");
	expect(S("...\r\n.\r\n"), 1, S("..\r\n"), 8, "three dots become two");
	expect(S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), 1, S("a\r\n"), 6, "pipelined command after the end is not consumed");
	/* SMTP smuggling: none of these end the data. */
	/* a bare LF is a line end in the spool (bare_newline normalize), the
	 * dot after it is unstuffed, and that line never ends the data */
	expect(S("a\n.\nb\r\n.\r\n"), 1, S("a\r\n\r\nb\r\n"), ALL, "LF.LF is not the end");
	expect(S("a\r.\rb\r\n.\r\n"), 1, S("a\r.\rb\r\n"), ALL, "CR.CR is not the end");
	expect(S("a\n.\r\nb\r\n.\r\n"), 1, S("a\r\n\r\nb\r\n"), ALL, "LF.CRLF is not the end");
	expect(S("a\r\n.\nb\r\n.\r\n"), 1, S("a\r\n\r\nb\r\n"), ALL, "CRLF.LF is not the end (the dot is unstuffed)");
	/* issue 13 finding 8: in the LF spool a bare LF is stored as LF, as
	 * every line end, and the line after it never ends the data */
	expect(S("a\nb\r\n.\r\n"), 0, S("a\nb\n"), ALL, "LF spool: a bare LF is stored as the line end");
	expect(S("a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"), 0, S("a\n\nMAIL FROM:<x@y>\n"), ALL,
	    "LF spool: LF.CRLF does not end the data");
	expect(S("a\n..\nb\r\n.\r\n"), 1, S("a\r\n.\r\nb\r\n"), ALL, "a stuffed dot after a bare LF is unstuffed");
	{
		run(S("a\nb\r\n.\r\n"), 64, 1, 0, &dr, &consumed, &done, &outlen);
		ok(dr.bare_lf && done, "a bare LF is flagged (for bare_newline = reject)");
		run(S("a\r\nb\r\n.\r\n"), 64, 1, 0, &dr, &consumed, &done, &outlen);
		ok(!dr.bare_lf && done, "CR LF only: not flagged");
	}
	expect(S("a\r.\r\nb\r\n.\r\n"), 1, S("a\r.\r\nb\r\n"), ALL, "CR.CRLF is not the end");
	expect(S("a\r\n.\rb\r\n.\r\n"), 1, S("a\r\n\rb\r\n"), ALL, "CRLF.CR is not the end");
	expect(S("a\r\n\0.\r\nb\r\n.\r\n"), 1, "a\r\n\0.\r\nb\r\n", 10, ALL, "CRLF NUL . CRLF is not the end");
	expect(S("a\r\n.\r\r\nb\r\n.\r\n"), 1, S("a\r\n\r\r\nb\r\n"), ALL, "CRLF.CR CRLF is not the end");
	expect(S("8bit \xff\xfe\x80\r\n.\r\n"), 1, S("8bit \xff\xfe\x80\r\n"), 13, "8-bit bytes intact");
	expect(S("no end\r\n"), 1, S("no end\r\n"), 0, "no end: everything consumed, not done");

	out = run(S("abc\r\nde\r\n.\r\n"), 64, 1, 0, &dr, &consumed, &done, &outlen);
	is_int(dr.size, 9, "size counts CRLF line ends");
	(void)out;
	run(S("0123456789\r\n.\r\n"), 64, 1, 10, &dr, &consumed, &done, &outlen);
	ok(dr.too_big && done, "over max_size: too_big, still read to the end");
	run(S("0123456789\r\n.\r\n"), 64, 1, 12, &dr, &consumed, &done, &outlen);
	ok(!dr.too_big, "exactly max_size is fine");

	big = malloc(2100);
	for (i = 0; i < 998; i++)
		big[i] = 'x';
	memcpy(big + 998, "\r\n.\r\n", 5);
	run(big, 1003, 4096, 1, 0, &dr, &consumed, &done, &outlen);
	ok(done && !dr.long_line, "a 1000-octet line (with CRLF) is fine");
	big[998] = 'x';
	memcpy(big + 999, "\r\n.\r\n", 5);
	run(big, 1004, 4096, 1, 0, &dr, &consumed, &done, &outlen);
	ok(done && dr.long_line, "a 1001-octet line is flagged");
	big[0] = '.';
	big[1] = '.';
	run(big, 1004, 4096, 1, 0, &dr, &consumed, &done, &outlen);
	ok(done && !dr.long_line, "the stuffed dot does not count");
	free(big);
	spool_tests();
	spool_close(&sp);
	return done_testing();
}
