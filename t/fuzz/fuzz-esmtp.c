/* SPDX-License-Identifier: ISC */
/*
 * fuzz-esmtp.c - libFuzzer harness for the MAIL and RCPT parameter parsers
 * (worker/esmtp_params.c).  The first byte chooses MAIL or RCPT, EHLO or
 * HELO, a size limit and TLS or not; the rest is the parameter text.
 * What the parsers accept must hold what their callers rely on: bounded, NUL-terminated,
 * printable values; a SIZE within the limit; an error with a reason.
 */
#include "autoconf.h"
#include "worker/esmtp_params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *p, size_t max)
{
	size_t n = strnlen(p, max);

	if (n == max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			abort();
}

static void
check_mail(const struct mail_params *mp, long long max)
{
	if (mp->size < -1 || (max > 0 && mp->size > max))
		abort();
	if (mp->body != BODY_7BIT && mp->body != BODY_8BITMIME && mp->body != BODY_BINARYMIME)
		abort();
	if (mp->priority < -9 || mp->priority > 9)
		abort();
	if (mp->ret[0] != '\0' && strcmp(mp->ret, "FULL") != 0 && strcmp(mp->ret, "HDRS") != 0)
		abort();
	check_text(mp->envid, sizeof(mp->envid));
	if (mp->envid[0] != '\0' && !xtext_valid(mp->envid))
		abort();
}

static void
check_error(const struct esmtp_status *st)
{
	if (st->error == ESMTP_OK || st->reason[0] == '\0' ||
	    strnlen(st->reason, sizeof(st->reason)) == sizeof(st->reason) ||
	    strnlen(st->value, sizeof(st->value)) == sizeof(st->value))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long long limits[4] = { 0, 1, 10485760, 999999999999999999LL };
	struct mail_params mp;
	struct rcpt_params rp;
	struct esmtp_status st;
	char *params;
	int flags, esmtp;

	if (size < 1)
		return 0;
	flags = data[0];
	esmtp = !(flags & 2);
	params = malloc(size);
	if (params == NULL)
		return 0;
	memcpy(params, data + 1, size - 1);
	params[size - 1] = '\0';
	if (flags & 1) {
		if (rcpt_params_parse(params, esmtp, &rp, &st) == 0) {
			check_text(rp.notify, sizeof(rp.notify));
			check_text(rp.orcpt, sizeof(rp.orcpt));
			if (!esmtp && (rp.notify[0] != '\0' || rp.orcpt[0] != '\0'))
				abort();
		} else {
			check_error(&st);
		}
	} else {
		long long max = limits[(flags >> 2) & 3];
		int tls = (flags & 16) != 0;
		if (mail_params_parse(params, (esmtp ? ESMTP_EHLO : 0) | (tls ? ESMTP_TLS : 0), max,
		    &mp, &st) == 0) {
			check_mail(&mp, max);
			if ((mp.requiretls && !tls) || (!mp.has_priority && mp.priority != 0))
				abort();
		} else {
			check_error(&st);
		}
	}
	free(params);
	return 0;
}
