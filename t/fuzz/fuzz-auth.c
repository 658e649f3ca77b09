/* SPDX-License-Identifier: ISC */
/*
 * fuzz-auth.c - libFuzzer harness for the AUTH decoders (worker/sasl.c):
 * strict base64 and the PLAIN message.
 */
#include "autoconf.h"
#include "worker/sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), out[3 * (SASL_FIELD_MAX + 1) + 1];
	struct sasl_credentials cr;
	int n;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	n = sasl_decode64(in, out, sizeof(out));
	if (n >= (int)sizeof(out))
		abort();
	if (n >= 0 && sasl_split_plain(out, n, &cr) == 0) {
		if (strlen(cr.user) == 0 || strlen(cr.user) > SASL_FIELD_MAX ||
		    strlen(cr.password) > SASL_FIELD_MAX || strlen(cr.authzid) > SASL_FIELD_MAX)
			abort();
	}
	/* the raw input as a PLAIN message too */
	(void)sasl_split_plain(in, (int)(size > 4096 ? 4096 : size), &cr);
	(void)sasl_has_ctl(in, size);
	free(in);
	return 0;
}
