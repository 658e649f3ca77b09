/* SPDX-License-Identifier: ISC */
/*
 * fuzz-rcpt-answers.c - libFuzzer harness for rcpt_answer_parse
 * (worker/rcpt_answers.c), the parser of the per-recipient answers data
 * steps give.  Input: the recipient list ("a@b\n" each), a NUL byte, then
 * the answer line; both are copied to buffers of their exact size, so that
 * a read past either is caught.  What the parser accepts must hold what
 * lmtp.c relies on: a recipient index in range, a 2xx/4xx/5xx code, and a
 * reply that starts with that code, is NUL-terminated within its buffer and
 * is printable ASCII.
 */
#include "autoconf.h"
#include "worker/rcpt_answers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t rlen = nul != NULL ? (size_t)(nul - data) : size, llen = nul != NULL ? size - rlen - 1 : 0;
	char *rcpts = malloc(rlen + 1), *line = malloc(llen + 1), code[4];
	struct rcpt_answer a;
	size_t n, i;
	int nrcpts = 0;

	if (rcpts == NULL || line == NULL)
		abort();
	memcpy(rcpts, data, rlen);
	if (llen > 0)
		memcpy(line, nul + 1, llen);
	for (i = 0; i < rlen; i++)
		nrcpts += rcpts[i] == '\n';
	nrcpts += rlen > 0 && rcpts[rlen - 1] != '\n';
	if (rcpt_answer_parse(line, llen, rcpts, rlen, &a) == RA_OK) {
		if (a.index < 0 || a.index >= nrcpts)
			abort();
		if (a.code < 200 || a.code > 599 || (a.code >= 300 && a.code < 400))
			abort();
		n = strnlen(a.reply, sizeof(a.reply));
		if (n == sizeof(a.reply) || n < 3)
			abort();
		snprintf(code, sizeof(code), "%d", a.code);
		if (memcmp(a.reply, code, 3) != 0)
			abort();
		for (i = 0; i < n; i++)
			if ((unsigned char)a.reply[i] < 0x20 || (unsigned char)a.reply[i] > 0x7e)
				abort();
	}
	free(rcpts);
	free(line);
	return 0;
}
