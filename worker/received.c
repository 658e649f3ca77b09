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

#include <string.h>
#include <time.h>

/* The text being built: appended to by hand (this runs for every
 * message), cut at the end of the buffer. */
struct text {
	char *p;
	size_t len, cap;
	int cut;
};

static void
add(struct text *t, const char *s)
{
	size_t l = strlen(s);

	if (l >= t->cap - t->len) {
		l = t->cap - t->len - 1;
		t->cut = 1;
	}
	memcpy(t->p + t->len, s, l);
	t->len += l;
	t->p[t->len] = '\0';
}

/* The date of the header, formatted once a second. */
static const char *
date_now(void)
{
	static char date[64];
	static time_t last = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		last = now;
	}
	return date;
}

void
received_write(struct session *s, const char *queue_id)
{
	char hdr[2048], first[SMTP_PATH_MAX + 1];
	struct text t = { hdr, 0, sizeof(hdr), 0 };
	const char *eol = s->cfg->data_crlf ? "\r\n" : "\n";
	/* RFC 3848: ESMTP, ESMTPA (authenticated), ESMTPS (TLS), ESMTPSA; LMTP,
	 * LMTPA, LMTPS, LMTPSA on an LMTP endpoint */
	/* RFC 6531 3.7.3: UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA (UTF8LMTP...) */
	const int lmtp = s->ep->protocol == PROTO_LMTP;
	/* "(NAME [IP])" once the name was looked up; "([IP])" with reverse_lookup = no */
	const char *name = fcrdns_name(&s->dns);

	first[0] = '\0';
	if (s->nrcpts == 1 && s->rcpts != NULL) {
		size_t len = strcspn(s->rcpts, "\n");
		if (len < sizeof(first)) {
			memcpy(first, s->rcpts, len);
			first[len] = '\0';
		}
	}
	add(&t, "Received: from ");
	add(&t, s->helo);
	add(&t, " (");
	if (name[0] != '\0') {
		add(&t, name);
		add(&t, " ");
	}
	add(&t, strchr(s->client_addr, ':') != NULL ? "[IPv6:" : "[");
	add(&t, s->client_addr);
	add(&t, "])");
	add(&t, eol);
	add(&t, "\tby ");
	add(&t, s->cfg->hostname);
	add(&t, " (Postern) with ");
	add(&t, !s->esmtp ? "" : s->smtputf8 ? "UTF8" : lmtp ? "" : "E");
	add(&t, lmtp ? "LMTP" : "SMTP");
	add(&t, s->esmtp && session_has_tls(s) ? "S" : "");
	add(&t, s->esmtp && session_authenticated(s) ? "A" : "");
	if (session_has_tls(s)) {
		add(&t, " (");
		add(&t, s->tls_info);
		add(&t, ")");
	}
	add(&t, " id ");
	add(&t, queue_id);
	if (first[0] != '\0') {
		add(&t, eol);
		add(&t, "\tfor <");
		add(&t, first);
		add(&t, ">; ");
	} else {
		add(&t, ";");
		add(&t, eol);
		add(&t, "\t");
	}
	add(&t, date_now());
	add(&t, eol);
	if (!t.cut)
		spool_write(&s->spool, hdr, t.len);
}
