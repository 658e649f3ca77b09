/* SPDX-License-Identifier: ISC */
/*
 * fuzz-forward.c - libFuzzer harness for postern-forward's pure parts: the
 * downstream reply parser (hostile server bytes) and the message conversion
 * (CR LF and dot-stuffing).  The two sources are compiled into this file so
 * that the harness needs nothing from libpostern.a.
 *
 * Checked: a parsed reply stays inside its input, has a valid code, an
 * enhanced code of the same class and printable text; a converted message
 * sent with DATA has its end marker CR LF "." CR LF only at its very end
 * (no early end: nothing of the message can be taken as a command).
 */
#include "../../hooks/forward/reply.c"
#include "../../hooks/forward/body.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const char *in, size_t n)
{
	struct reply r;
	size_t i;

	if (reply_parse(in, n, &r) != REPLY_OK)
		return;
	if (r.consumed == 0 || r.consumed > n || r.code < 200 || r.code > 559 || r.lines < 1)
		abort();
	if (r.enhanced[0] != '\0' && r.enhanced[0] != '0' + r.code / 100)
		abort();
	if (strlen(r.text) > REPLY_TEXT_MAX)
		abort();
	for (i = 0; r.text[i] != '\0'; i++)
		if ((unsigned char)r.text[i] < 0x20 || (unsigned char)r.text[i] > 0x7e)
			abort();
}

static void
check_body(const char *in, size_t n, int split)
{
	struct body_conv bc;
	char *out = malloc(2 * n + 8);
	size_t o, cut = split % (n + 1), i;

	if (out == NULL)
		return;
	body_init(&bc, 1, 0);
	o = body_convert(&bc, in, cut, out);
	o += body_convert(&bc, in + cut, n - cut, out + o);
	o += body_finish(&bc, out + o);
	if (o > 2 * n + 8 || o < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0)
		abort();
	/* a line that is only "." may appear only as the last line */
	for (i = 0; i + 3 <= o; i++) {
		int bol = i == 0 || (i >= 2 && out[i - 2] == '\r' && out[i - 1] == '\n');
		if (bol && memcmp(out + i, ".\r\n", 3) == 0 && i + 3 != o)
			abort();
	}
	/* every LF is preceded by CR */
	for (i = 0; i < o; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		check_reply((const char *)data + 1, size - 1);
	else
		check_body((const char *)data + 1, size - 1, data[0] >> 1);
	return 0;
}
