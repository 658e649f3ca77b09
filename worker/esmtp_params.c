/* SPDX-License-Identifier: ISC */
/*
 * esmtp_params.c - check the ESMTP parameters of MAIL and RCPT, one error
 * per problem: unknown keyword, bad value or duplicate, SIZE over the limit
 * (RFC 1870, with overflow checks), REQUIRETLS outside TLS (where it is not
 * offered), an MT-PRIORITY outside -9..9.  Values that reach hooks (ENVID, ORCPT)
 * are kept as sent, in xtext, after checking that they decode to printable
 * text.  Nothing here knows the session: the caller turns the error into
 * its reply (transaction.c).
 */
#include "autoconf.h"
#include "esmtp_params.h"
#include "address.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SIZE_MAX_DIGITS 999999999999999999LL    /* above any limit */

enum size_parse { SIZE_OK, SIZE_SYNTAX, SIZE_OVERFLOW };

/* SIZE=digits. */
static enum size_parse
parse_size(const char *v, long long *out)
{
	long long n = 0;

	if (*v == '\0')
		return SIZE_SYNTAX;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return SIZE_SYNTAX;
		if (n > (SIZE_MAX_DIGITS - (*v - '0')) / 10)
			return SIZE_OVERFLOW;
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return SIZE_OK;
}

int
xtext_valid(const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '+') {
			int hi, lo, dec;
			if (!isxdigit((unsigned char)v[1]) || !isxdigit((unsigned char)v[2]) ||
			    islower((unsigned char)v[1]) || islower((unsigned char)v[2]))
				return 0;
			hi = isdigit((unsigned char)v[1]) ? v[1] - '0' : v[1] - 'A' + 10;
			lo = isdigit((unsigned char)v[2]) ? v[2] - '0' : v[2] - 'A' + 10;
			dec = hi * 16 + lo;
			if (dec < 0x20 || dec == 0x7f)
				return 0;
			v += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return 0;
		}
	}
	return 1;
}

/* Fill ST; returns -1 for the caller to return. */
static int
fail(struct esmtp_status *st, enum esmtp_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail(struct esmtp_status *st, enum esmtp_error e, const char *fmt, ...)
{
	va_list ap;

	st->error = e;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
	return -1;
}

enum mail_keyword { MAIL_SIZE, MAIL_BODY, MAIL_AUTH, MAIL_SMTPUTF8, MAIL_RET, MAIL_ENVID,
	MAIL_REQUIRETLS, MAIL_MT_PRIORITY, MAIL_KEYWORDS };
static const char *const mail_keywords[MAIL_KEYWORDS] = {
	"SIZE", "BODY", "AUTH", "SMTPUTF8", "RET", "ENVID", "REQUIRETLS", "MT-PRIORITY"
};

/* RFC 6710 3: priority-value = ( ["-"] NZDIGIT ) / "0", so -9 to 9. */
static int
parse_priority(const char *v, int *out)
{
	int neg = (*v == '-');

	if (neg)
		v++;
	if (v[0] < '0' || v[0] > '9' || v[1] != '\0' || (neg && v[0] == '0'))
		return -1;
	*out = neg ? -(v[0] - '0') : v[0] - '0';
	return 0;
}

/* One MAIL parameter KW=VAL of a known keyword K. */
static int
mail_param(enum mail_keyword k, const char *val, long long max_size, struct mail_params *mp,
    struct esmtp_status *st)
{
	switch (k) {
	case MAIL_SIZE:
		switch (parse_size(val, &mp->size)) {
		case SIZE_SYNTAX:
			return fail(st, ESMTP_BAD, "bad SIZE parameter syntax");
		case SIZE_OVERFLOW:
			break;
		case SIZE_OK:
			if (max_size <= 0 || mp->size <= max_size)
				return 0;
			break;
		}
		snprintf(st->value, sizeof(st->value), "%s", val);
		return fail(st, ESMTP_TOO_BIG, "message size exceeds fixed limit");
	case MAIL_BODY:
		if (strcasecmp(val, "8BITMIME") == 0)
			mp->body = BODY_8BITMIME;
		else if (strcasecmp(val, "BINARYMIME") == 0)
			mp->body = BODY_BINARYMIME;
		else if (strcasecmp(val, "7BIT") == 0)
			mp->body = BODY_7BIT;
		else
			return fail(st, ESMTP_BAD, "BODY can only be one of 7BIT, 8BITMIME, BINARYMIME");
		return 0;
	case MAIL_AUTH:
		/* RFC 4954 5: <> or an xtext mailbox; we do not relay, so it
		 * is checked and otherwise ignored. */
		if (strcmp(val, "<>") != 0 && (val[0] == '\0' || !xtext_valid(val)))
			return fail(st, ESMTP_BAD, "bad AUTH parameter syntax");
		return 0;
	case MAIL_SMTPUTF8:
		if (val[0] != '\0')
			return fail(st, ESMTP_BAD, "SMTPUTF8 takes no value");
		mp->smtputf8 = 1;
		return 0;
	case MAIL_RET:
		if (strcasecmp(val, "FULL") != 0 && strcasecmp(val, "HDRS") != 0)
			return fail(st, ESMTP_BAD, "RET must be FULL or HDRS");
		snprintf(mp->ret, sizeof(mp->ret), "%s", strcasecmp(val, "FULL") == 0 ? "FULL" : "HDRS");
		return 0;
	case MAIL_ENVID:
		if (val[0] == '\0' || strlen(val) > 100 || !xtext_valid(val))
			return fail(st, ESMTP_BAD, "bad ENVID parameter syntax");
		snprintf(mp->envid, sizeof(mp->envid), "%s", val);
		return 0;
	case MAIL_REQUIRETLS:
		if (val[0] != '\0')
			return fail(st, ESMTP_BAD, "REQUIRETLS takes no value");
		mp->requiretls = 1;
		return 0;
	case MAIL_MT_PRIORITY:
		if (parse_priority(val, &mp->priority) < 0)
			return fail(st, ESMTP_BAD, "MT-PRIORITY must be a whole number from -9 to 9");
		mp->has_priority = 1;
		return 0;
	case MAIL_KEYWORDS:
		break;
	}
	return fail(st, ESMTP_UNKNOWN, "unsupported parameter");
}

int
mail_params_parse(const char *params, unsigned flags, long long max_size, struct mail_params *mp,
    struct esmtp_status *st)
{
	char kw[32], val[512];
	unsigned seen = 0;
	int rc;

	memset(mp, 0, sizeof(*mp));
	memset(st, 0, sizeof(*st));
	mp->size = -1;
	while ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) == 1) {
		unsigned k;
		if (!(flags & ESMTP_EHLO))
			return fail(st, ESMTP_NEED_EHLO, "MAIL parameters need EHLO");
		for (k = 0; k < MAIL_KEYWORDS && strcmp(kw, mail_keywords[k]) != 0; k++)
			continue;
		if (k == MAIL_KEYWORDS)
			return fail(st, ESMTP_UNKNOWN, "unsupported parameter %s", kw);
		/* RFC 8689 4: offered only under TLS, so unknown before it */
		if (k == MAIL_REQUIRETLS && !(flags & ESMTP_TLS))
			return fail(st, ESMTP_UNKNOWN, "REQUIRETLS needs TLS: send STARTTLS first");
		if (seen & (1u << k))
			return fail(st, ESMTP_BAD, "duplicate %s parameter", kw);
		seen |= 1u << k;
		if (mail_param((enum mail_keyword)k, val, max_size, mp, st) < 0)
			return -1;
	}
	if (rc < 0)
		return fail(st, ESMTP_BAD, "bad parameter syntax");
	return 0;
}

/* NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE, DELAY. */
static int
notify_valid(const char *v)
{
	char copy[64], *tok, *save;
	int n = 0, never = 0, seen = 0;

	if (strlen(v) >= sizeof(copy) || v[0] == '\0')
		return 0;
	snprintf(copy, sizeof(copy), "%s", v);
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		int bit;
		if (strcasecmp(tok, "NEVER") == 0) { never = 1; bit = 0; }
		else if (strcasecmp(tok, "SUCCESS") == 0) bit = 1;
		else if (strcasecmp(tok, "FAILURE") == 0) bit = 2;
		else if (strcasecmp(tok, "DELAY") == 0) bit = 3;
		else return 0;
		if (seen & (1 << bit))
			return 0;
		seen |= 1 << bit;
		n++;
	}
	return n > 0 && !(never && n > 1) && v[strlen(v) - 1] != ',';
}

/* ORCPT=addr-type;xtext, addr-type an atom such as rfc822. */
static int
orcpt_param(const char *val, struct rcpt_params *rp, struct esmtp_status *st)
{
	const char *semi = strchr(val, ';');
	size_t i;

	if (semi == NULL || semi == val || semi[1] == '\0' || strlen(val) >= sizeof(rp->orcpt) ||
	    !xtext_valid(semi + 1))
		return fail(st, ESMTP_BAD, "bad ORCPT parameter syntax");
	for (i = 0; val + i < semi; i++)
		if (!isalnum((unsigned char)val[i]) && val[i] != '-')
			return fail(st, ESMTP_BAD, "bad ORCPT address type");
	snprintf(rp->orcpt, sizeof(rp->orcpt), "%s", val);
	return 0;
}

int
rcpt_params_parse(const char *params, int esmtp, struct rcpt_params *rp, struct esmtp_status *st)
{
	char kw[32], val[512];
	int rc, seen_notify = 0, seen_orcpt = 0;

	memset(rp, 0, sizeof(*rp));
	memset(st, 0, sizeof(*st));
	while ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) == 1) {
		if (!esmtp)
			return fail(st, ESMTP_NEED_EHLO, "RCPT parameters need EHLO");
		if (strcmp(kw, "NOTIFY") == 0) {
			if (seen_notify++)
				return fail(st, ESMTP_BAD, "duplicate NOTIFY parameter");
			if (!notify_valid(val))
				return fail(st, ESMTP_BAD,
				    "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
			for (size_t i = 0; val[i] != '\0' && i + 1 < sizeof(rp->notify); i++)
				rp->notify[i] = (char)toupper((unsigned char)val[i]);
		} else if (strcmp(kw, "ORCPT") == 0) {
			if (seen_orcpt++)
				return fail(st, ESMTP_BAD, "duplicate ORCPT parameter");
			if (orcpt_param(val, rp, st) < 0)
				return -1;
		} else {
			return fail(st, ESMTP_UNKNOWN, "unsupported parameter %s", kw);
		}
	}
	if (rc < 0)
		return fail(st, ESMTP_BAD, "bad parameter syntax");
	return 0;
}
