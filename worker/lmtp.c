/* SPDX-License-Identifier: ISC */
/*
 * lmtp.c - LMTP server mode (RFC 2033).  An endpoint with protocol = lmtp
 * greets with LHLO only (EHLO and HELO get 500, as RFC 2033 4.1 says; an
 * SMTP endpoint does not know LHLO) and answers the final dot of DATA, or
 * BDAT LAST, with one reply per recipient it accepted, in RCPT order.  An
 * LMTP client reads exactly that many: one reply too few and its next
 * command's reply (Postfix sends QUIT at once: 221) is taken for the last
 * recipient's, so every path here gives each recipient exactly one.
 */
#include "autoconf.h"
#include "lmtp.h"
#include "decision.h"
#include "hook.h"
#include "rcpt_answers.h"
#include "session.h"
#include "../common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
lmtp_wrong_hello(struct session *s, const char *verb)
{
	int lhlo = strcmp(verb, "LHLO") == 0;

	if (s->ep->protocol == PROTO_LMTP && !lhlo) {
		smtp_reply(s, 500, "5.5.1", "Error: this is an LMTP server (RFC 2033): use LHLO, not %s", verb);
		return 1;
	}
	if (s->ep->protocol != PROTO_LMTP && lhlo) {
		smtp_reply(s, 500, "5.5.2", "Error: command not recognized");
		return 1;
	}
	return 0;
}

/*
 * Queue one recipient's reply TEXT ("NNN ...").  A code that counts as a
 * protocol error (500-504, 530, 555: session.c) could make the session add
 * its "421 too many errors" among the replies, and the client would take
 * each later reply for the recipient before: such a code, meaningless for
 * a message, goes out as 550 with the same text.
 */
static void
rcpt_reply(struct session *s, const char *text)
{
	int code = atoi(text);

	if ((code >= 500 && code <= 504) || code == 530 || code == 555)
		reply(s, "550%s", text + 3);
	else
		reply(s, "%s", text);
}

/* The recipient at P ("a@b\n..."): its length. */
static size_t
rcpt_len(const char *p)
{
	return strcspn(p, "\n");
}

/* Log recipient ADDR (LEN octets) and the code and enhanced code of its
 * reply TEXT (hook text stays out of the log: log.c's escaping rule). */
static void
log_rcpt(const struct session *s, const char *addr, size_t len, const char *status, const char *text)
{
	char esc[SMTP_PATH_MAX * 4 + 1];
	size_t n = strspn(text, "0123456789. ");

	while (n > 0 && text[n - 1] == ' ')
		n--;
	log_sanitize(esc, sizeof(esc), addr, len);
	log_info("%s: to=<%s> status=%s (%.*s)", s->queue_id, esc, status, (int)(n < 24 ? n : 24), text);
}

void
lmtp_replies(struct session *s, int accepted, const struct hook_result *res)
{
	char whole[sizeof(res->reply) + 8];
	int i, n;
	/* the recipients as they were at RCPT (a milter may have edited the
	 * session's list since): exactly one reply each */
	const char *p = rcpt_table_rcpts(&n);

	if (p == NULL) {
		p = s->rcpts != NULL ? s->rcpts : "";
		n = s->nrcpts;
	}
	whole[0] = '\0';
	if (!accepted)
		session_refusal_text(HOOK_DATA, res, whole, sizeof(whole));
	for (i = 0; i < n && *p != '\0'; i++) {
		size_t l = rcpt_len(p);
		const char *own_ok, *refusal = rcpt_table_reply(i, &own_ok);

		if (refusal == NULL && !accepted && !rcpt_table_active())
			refusal = whole;        /* nothing per recipient: the message's answer */
		if (refusal != NULL) {
			log_rcpt(s, p, l, refusal[0] == '5' ? "rejected" : "deferred", refusal);
			rcpt_reply(s, refusal);
		} else if (own_ok != NULL) {
			log_rcpt(s, p, l, "sent", own_ok);
			rcpt_reply(s, own_ok);
		} else if (res->reply[0] == '2') {
			log_rcpt(s, p, l, "sent", res->reply);
			rcpt_reply(s, res->reply);
		} else {
			log_rcpt(s, p, l, "sent", "250 2.0.0");
			smtp_reply(s, 250, "2.0.0", "<%.*s> Ok: queued as %s", (int)l, p, s->queue_id);
		}
		p += l + (p[l] == '\n');
	}
	/* never fewer replies than recipients (the list and the count agree;
	 * this is the belt to those braces) */
	for (; i < n; i++)
		smtp_reply(s, 451, "4.3.0", "Error: internal error, try again later");
}

int
lmtp_bdat_replies(const struct session *s, int last)
{
	return last && s->ep->protocol == PROTO_LMTP && s->nrcpts > 0 ? s->nrcpts : 1;
}
