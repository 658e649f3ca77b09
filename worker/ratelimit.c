/* SPDX-License-Identifier: ISC */
/*
 * ratelimit.c - per-client limits across sessions (see ratelimit.h).
 * Windows: 60 s for connections, messages and recipients, 3600 s for AUTH
 * failures, as Postfix's anvil counts per time unit.  A client in
 * limit_exempt (default 127.0.0.0/8 and ::1) is never counted nor refused.
 */
#include "autoconf.h"
#include "ratelimit.h"
#include "session.h"
#include "../common/log.h"
#include "../common/netaddr.h"

#define MINUTE 60
#define HOUR   3600

static struct rates *table;

void
ratelimit_init(struct rates *r)
{
	table = r;
}

int
ratelimit_exempt(const struct limits *lim, const struct sockaddr *sa)
{
	return netaddr_in_cidrs(sa, lim->limit_exempt, lim->nlimit_exempt);
}

unsigned
ratelimit_connection(const struct limits *lim, const uint8_t key[SB_KEY_LEN])
{
	unsigned n;

	if (lim->max_connection_rate == 0)
		return 0;
	n = rates_add(table, key, RATE_CONNECTION, 1, MINUTE);
	return n > (unsigned)lim->max_connection_rate ? n : 0;
}

/* Count N events of KIND for the session's client; the count if over MAX. */
static unsigned
over(struct session *s, enum rate_kind kind, unsigned n, int max, int window)
{
	unsigned count;

	if (max == 0 || s->limit_exempt)
		return 0;
	count = rates_add(table, s->rate_key, kind, n, window);
	return count > (unsigned)max ? count : 0;
}

/* One more event of KIND in the client's last minute: over MAX (the
 * setting KEY), log "refused: N WHAT in a minute" and return 1. */
static int
refused_this_minute(struct session *s, enum rate_kind kind, int max, const char *what,
    const char *key)
{
	unsigned n = over(s, kind, 1, max, MINUTE);

	if (n == 0)
		return 0;
	log_warn("refused: %u %s in a minute from [%s] (%s %d)", n, what, s->client_addr, key, max);
	return 1;
}

int
ratelimit_mail(struct session *s)
{
	if (!refused_this_minute(s, RATE_MESSAGE, s->lim->max_message_rate, "messages",
	    "max_message_rate"))
		return 0;
	session_close_421(s, "too much mail from your address, try again later");
	return -1;
}

int
ratelimit_rcpt(struct session *s)
{
	if (!refused_this_minute(s, RATE_RECIPIENT, s->lim->max_recipient_rate, "recipients",
	    "max_recipient_rate"))
		return 0;
	smtp_reply(s, 452, "4.7.1", "Error: too many recipients from your address, try again later");
	return -1;
}

int
ratelimit_auth(struct session *s)
{
	unsigned n;

	/* refused once the client has max_auth_failure_rate failures already */
	if (s->lim->max_auth_failure_rate == 0 || s->limit_exempt)
		return 0;
	n = rates_add(table, s->rate_key, RATE_AUTH_FAILURE, 0, HOUR);
	if (n < (unsigned)s->lim->max_auth_failure_rate)
		return 0;
	log_warn("auth: refused: %u failures in an hour from [%s] (max_auth_failure_rate %d)", n,
	    s->client_addr, s->lim->max_auth_failure_rate);
	smtp_reply(s, 454, "4.7.0", "Error: too many authentication failures from your address, try again later");
	session_close_421(s, "closing the connection");
	return -1;
}

void
ratelimit_auth_failed(struct session *s)
{
	over(s, RATE_AUTH_FAILURE, 1, s->lim->max_auth_failure_rate, HOUR);
}
