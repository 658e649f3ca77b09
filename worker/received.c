/* SPDX-License-Identifier: ISC */
/*
 * received.c - the Received: trace header (RFC 5321 4.4) written at the top
 * of each message: who sent it (EHLO name and IP literal), who received it,
 * with which protocol, the queue id, the recipient when there is one, and
 * the date.  Everything in it has been validated: printable ASCII, and in
 * the addresses well-formed UTF-8 when SMTPUTF8 was given (RFC 6531).
 */
#include "autoconf.h"
#include "received.h"
#include "session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
received_write(struct session *s, const char *queue_id)
{
	char date[64], hdr[2048], first[SMTP_PATH_MAX + 1];
	const char *eol = s->cfg->data_crlf ? "\r\n" : "\n";
	/* RFC 3848: ESMTP, ESMTPA (authenticated), ESMTPS (TLS), ESMTPSA; LMTP,
	 * LMTPA, LMTPS, LMTPSA on an LMTP endpoint */
	/* RFC 6531 3.7.3: UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA (UTF8LMTP...) */
	const int lmtp = s->ep->protocol == PROTO_LMTP;
	char proto[16];
	char with[200];
	const char *v6 = strchr(s->client_addr, ':') != NULL ? "IPv6:" : "";
	/* "(NAME [IP])" once the name was looked up; "([IP])" with reverse_lookup = no */
	const char *name = fcrdns_name(&s->dns);
	const char *sp = name[0] != '\0' ? " " : "";
	time_t now = time(NULL);
	struct tm tm;
	int n;

	snprintf(proto, sizeof(proto), "%s%s%s%s", !s->esmtp ? "" : s->smtputf8 ? "UTF8" : lmtp ? "" : "E",
	    lmtp ? "LMTP" : "SMTP", s->esmtp && session_has_tls(s) ? "S" : "",
	    s->esmtp && session_authenticated(s) ? "A" : "");
	if (session_has_tls(s))
		snprintf(with, sizeof(with), "%s (%s)", proto, s->tls_info);
	else
		snprintf(with, sizeof(with), "%s", proto);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	first[0] = '\0';
	if (s->nrcpts == 1 && s->rcpts != NULL) {
		size_t len = strcspn(s->rcpts, "\n");
		if (len < sizeof(first)) {
			memcpy(first, s->rcpts, len);
			first[len] = '\0';
		}
	}
	if (first[0] != '\0')
		n = snprintf(hdr, sizeof(hdr),
		    "Received: from %s (%s%s[%s%s])%s\tby %s (Postern) with %s id %s%s\tfor <%s>; %s%s",
		    s->helo, name, sp, v6, s->client_addr, eol, s->cfg->hostname, with, queue_id, eol,
		    first, date, eol);
	else
		n = snprintf(hdr, sizeof(hdr),
		    "Received: from %s (%s%s[%s%s])%s\tby %s (Postern) with %s id %s;%s\t%s%s",
		    s->helo, name, sp, v6, s->client_addr, eol, s->cfg->hostname, with, queue_id, eol,
		    date, eol);
	if (n > 0 && (size_t)n < sizeof(hdr))
		spool_write(&s->spool, hdr, (size_t)n);
}
