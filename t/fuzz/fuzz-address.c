/* SPDX-License-Identifier: ISC */
/*
 * fuzz-address.c - libFuzzer harness for the MAIL/RCPT argument parsers:
 * paths (worker/address.c), ESMTP parameters and xtext.  Whatever a path
 * parse accepts must be free of control characters (it goes to hooks).
 */
#include "autoconf.h"
#include "worker/address.h"
#include "worker/esmtp_params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_mailbox(const char *box)
{
	size_t n = strlen(box);

	if (n > SMTP_PATH_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)box[i] < 0x20 || box[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *arg, box[SMTP_PATH_MAX + 1], kw[32], val[512];
	const char *params, *why, *cur;
	int flags, rc, guard = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	arg = malloc(size);
	if (arg == NULL)
		return 0;
	memcpy(arg, data + 1, size - 1);
	arg[size - 1] = '\0';
	if (smtp_parse_path(arg, (flags & 1) ? "TO:" : "FROM:", flags & 2, flags & 4,
	    flags & 8, box, sizeof(box), &params, &why) == PATH_OK) {
		check_mailbox(box);
		cur = params;
		while ((rc = smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val))) == 1) {
			if (strlen(kw) >= sizeof(kw) || strlen(val) >= sizeof(val) || ++guard > 1000)
				abort();
			(void)xtext_valid(val);
		}
	}
	(void)xtext_valid(arg);
	(void)smtp_valid_domain(arg, strlen(arg));
	free(arg);
	return 0;
}
