/*
 * esmtp_params.c - check the ESMTP parameters of MAIL and RCPT, one reply
 * per problem: unknown keyword 555 5.5.4, bad value or duplicate 501 5.5.4,
 * SIZE over the limit 552 5.3.4 (RFC 1870, with overflow checks).  Values
 * that reach hooks (ENVID, ORCPT) are kept as sent, in xtext, after checking
 * that they decode to printable text.
 */
#include "autoconf.h"
#include "esmtp_params.h"
#include "session.h"
#include "../common/address.h"
#include "../common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SEEN(bit) (seen & (1u << (bit)))

/* SIZE=digits; -2 for a number too large for any limit. */
static int
parse_size(const char *v, long long *out)
{
	long long n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n > (999999999999999999LL - (*v - '0')) / 10)
			return -2;
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return 0;
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

int
mail_params_parse(struct session *s, const char *params, struct mail_params *mp)
{
	char kw[32], val[512];
	unsigned seen = 0;
	int rc;

	memset(mp, 0, sizeof(*mp));
	mp->size = -1;
	while ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) == 1) {
		int bit;
		if (!s->esmtp) {
			smtp_reply(s, 555, "5.5.4", "Error: MAIL parameters need EHLO");
			return -1;
		}
		if (strcmp(kw, "SIZE") == 0) bit = 0;
		else if (strcmp(kw, "BODY") == 0) bit = 1;
		else if (strcmp(kw, "AUTH") == 0) bit = 2;
		else if (strcmp(kw, "SMTPUTF8") == 0) bit = 3;
		else if (strcmp(kw, "RET") == 0) bit = 4;
		else if (strcmp(kw, "ENVID") == 0) bit = 5;
		else {
			smtp_reply(s, 555, "5.5.4", "Error: unsupported parameter %s", kw);
			return -1;
		}
		if (SEEN(bit)) {
			smtp_reply(s, 501, "5.5.4", "Error: duplicate %s parameter", kw);
			return -1;
		}
		seen |= 1u << bit;
		switch (bit) {
		case 0: {
			int r = parse_size(val, &mp->size);
			if (r == -1) {
				smtp_reply(s, 501, "5.5.4", "Error: bad SIZE parameter syntax");
				return -1;
			}
			if (r == -2 || (s->lim->max_message_size > 0 && mp->size > s->lim->max_message_size)) {
				log_info("reject: MAIL from=<%s> SIZE=%s exceeds the limit of %lld",
				    log_esc(s->mail_from), log_esc(val), s->lim->max_message_size);
				smtp_reply(s, 552, "5.3.4", "Error: message size exceeds fixed limit");
				return -1;
			}
			break;
		}
		case 1:
			if (strcasecmp(val, "8BITMIME") == 0)
				mp->body = BODY_8BITMIME;
			else if (strcasecmp(val, "BINARYMIME") == 0)
				mp->body = BODY_BINARYMIME;
			else if (strcasecmp(val, "7BIT") == 0)
				mp->body = BODY_7BIT;
			else {
				smtp_reply(s, 501, "5.5.4", "Error: BODY can only be one of 7BIT, 8BITMIME, BINARYMIME");
				return -1;
			}
			break;
		case 2:
			/* RFC 4954 5: <> or an xtext mailbox; we do not relay, so it
			 * is checked and otherwise ignored. */
			if (strcmp(val, "<>") != 0 && (val[0] == '\0' || !xtext_valid(val))) {
				smtp_reply(s, 501, "5.5.4", "Error: bad AUTH parameter syntax");
				return -1;
			}
			break;
		case 3:
			if (val[0] != '\0') {
				smtp_reply(s, 501, "5.5.4", "Error: SMTPUTF8 takes no value");
				return -1;
			}
			mp->smtputf8 = 1;
			break;
		case 4:
			if (strcasecmp(val, "FULL") != 0 && strcasecmp(val, "HDRS") != 0) {
				smtp_reply(s, 501, "5.5.4", "Error: RET must be FULL or HDRS");
				return -1;
			}
			snprintf(mp->ret, sizeof(mp->ret), "%s", strcasecmp(val, "FULL") == 0 ? "FULL" : "HDRS");
			break;
		case 5:
			if (val[0] == '\0' || strlen(val) > 100 || !xtext_valid(val)) {
				smtp_reply(s, 501, "5.5.4", "Error: bad ENVID parameter syntax");
				return -1;
			}
			snprintf(mp->envid, sizeof(mp->envid), "%s", val);
			break;
		}
	}
	if (rc < 0) {
		smtp_reply(s, 501, "5.5.4", "Error: bad parameter syntax");
		return -1;
	}
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

int
rcpt_params_parse(struct session *s, const char *params, struct rcpt_params *rp)
{
	char kw[32], val[512];
	unsigned seen = 0;
	int rc;

	memset(rp, 0, sizeof(*rp));
	while ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) == 1) {
		if (!s->esmtp) {
			smtp_reply(s, 555, "5.5.4", "Error: RCPT parameters need EHLO");
			return -1;
		}
		if (strcmp(kw, "NOTIFY") == 0) {
			if (SEEN(0)) {
				smtp_reply(s, 501, "5.5.4", "Error: duplicate NOTIFY parameter");
				return -1;
			}
			seen |= 1;
			if (!notify_valid(val)) {
				smtp_reply(s, 501, "5.5.4", "Error: NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
				return -1;
			}
			for (size_t i = 0; val[i] != '\0' && i + 1 < sizeof(rp->notify); i++)
				rp->notify[i] = (char)toupper((unsigned char)val[i]);
		} else if (strcmp(kw, "ORCPT") == 0) {
			const char *semi = strchr(val, ';');
			size_t i;
			if (SEEN(1)) {
				smtp_reply(s, 501, "5.5.4", "Error: duplicate ORCPT parameter");
				return -1;
			}
			seen |= 2;
			/* addr-type ";" xtext, addr-type an atom such as rfc822 */
			if (semi == NULL || semi == val || semi[1] == '\0' || strlen(val) >= sizeof(rp->orcpt) ||
			    !xtext_valid(semi + 1)) {
				smtp_reply(s, 501, "5.5.4", "Error: bad ORCPT parameter syntax");
				return -1;
			}
			for (i = 0; val + i < semi; i++)
				if (!isalnum((unsigned char)val[i]) && val[i] != '-') {
					smtp_reply(s, 501, "5.5.4", "Error: bad ORCPT address type");
					return -1;
				}
			snprintf(rp->orcpt, sizeof(rp->orcpt), "%s", val);
		} else {
			smtp_reply(s, 555, "5.5.4", "Error: unsupported parameter %s", kw);
			return -1;
		}
	}
	if (rc < 0) {
		smtp_reply(s, 501, "5.5.4", "Error: bad parameter syntax");
		return -1;
	}
	return 0;
}
