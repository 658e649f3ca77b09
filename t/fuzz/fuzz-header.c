/* SPDX-License-Identifier: ISC */
/*
 * fuzz-header.c - libFuzzer harness for worker/header.c, which reads every
 * incoming message's header section: the scanner must find the same fields
 * whatever the split of its input (the split sizes come from the input),
 * fields must be in order, inside the input and not overlap, and
 * ar_match and header_check must take any bytes.
 */
#include "autoconf.h"
#include "worker/header.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 4096

struct fields {
	long long r[MAXF][2];
	int n;
	long long limit;
	int ours;
};

static int
field(void *arg, long long start, long long end, const char *f, size_t kept, int truncated)
{
	struct fields *fs = arg;
	enum ar_match m = ar_match(f, kept, truncated, "mx.example.org");

	if (start < 0 || end <= start || end > fs->limit || kept > HDR_SCAN_KEEP ||
	    (fs->n > 0 && start < fs->r[fs->n - 1][1]))
		abort();
	if ((long long)kept != end - start && !truncated)
		abort();
	if (m == AR_NOT_FIELD)
		return 0;
	if (fs->n < MAXF) {
		fs->r[fs->n][0] = start;
		fs->r[fs->n][1] = end;
		fs->n++;
	}
	fs->ours += m == AR_OURS;
	return 1;
}

static void
scan(const uint8_t *in, size_t n, size_t step, struct fields *fs)
{
	struct hdr_scan hs;
	size_t off = 0;

	memset(fs, 0, sizeof(*fs));
	fs->limit = (long long)n;
	hdr_scan_init(&hs, 0);
	while (off < n) {
		size_t piece = n - off < step ? n - off : step;
		if (hdr_scan_feed(&hs, (const char *)in + off, piece, field, fs))
			break;
		off += piece;
	}
	hdr_scan_end(&hs, field, fs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fields a, b;
	size_t step, i, start;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	scan(data, size, size > 0 ? size : 1, &a);
	scan(data, size, step, &b);
	if (a.n != b.n || a.ours != b.ours || memcmp(a.r, b.r, sizeof(a.r[0]) * (size_t)a.n) != 0)
		abort();
	for (i = 0, start = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			(void)header_check((const char *)data + start, i - start);
			start = i + 1;
		}
	}
	return 0;
}
