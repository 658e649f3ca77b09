/* SPDX-License-Identifier: ISC */
/*
 * transaction.c - the mail transaction (RFC 5321 3.3): MAIL FROM with its
 * SIZE and BODY parameters (RFC 1870, RFC 6152), RCPT TO, and the reset
 * that ends one.  DATA and BDAT, which carry the message: delivery.c.
 */
#include "autoconf.h"
#include "transaction.h"
#include "session.h"
#include "milter_step.h"
#include "pipeline.h"
#include "ratelimit.h"
#include "esmtp_ext.h"
#include "esmtp_params.h"
#include "../common/growbuf.h"
#include "../common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
transaction_reset(struct session *s)
{
	milter_step_abort();
	s->in_transaction = 0;
	s->mail_from[0] = '\0';
	s->declared_size = -1;
	s->body = BODY_7BIT;
	s->smtputf8 = 0;
	s->requiretls = s->has_priority = s->priority = 0;
	s->dsn_ret[0] = s->dsn_envid[0] = '\0';
	s->rcpts_len = s->rcpts_dsn_len = 0;
	s->nrcpts = 0;
	s->last_rcpt[0] = '\0';
	memset(&s->rcpt_dsn, 0, sizeof(s->rcpt_dsn));
	if (s->rcpts != NULL)
		s->rcpts[0] = '\0';
	if (s->rcpts_dsn != NULL)
		s->rcpts_dsn[0] = '\0';
	s->chunking = 0;
	s->chunk_failed = 0;
	s->queue_id[0] = '\0';
	session_headers_clear(s, HDRS_TXN);
}

/* A reply for a path that did not parse. */
static void
path_error(struct session *s, enum path_error e, const char *why, int sender)
{
	switch (e) {
	case PATH_SYNTAX:
		smtp_reply(s, 501, "5.5.4", "Syntax: %s (%s)", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>", why);
		break;
	case PATH_TOO_LONG:
		smtp_reply(s, 501, "5.5.4", "Error: path too long (%s)", why);
		break;
	case PATH_NON_ASCII:
		smtp_reply(s, 553, "5.6.7", "Error: must declare SMTPUTF8 to send unicode address");
		break;
	default:
		smtp_reply(s, 501, sender ? "5.1.7" : "5.1.3", "Error: bad %s address syntax (%s)",
		    sender ? "sender" : "recipient", why);
		break;
	}
}

/* The reply for MAIL or RCPT parameters that did not parse. */
static void
params_error(struct session *s, const struct esmtp_status *st)
{
	switch (st->error) {
	case ESMTP_NEED_EHLO:
	case ESMTP_UNKNOWN:
		smtp_reply(s, 555, "5.5.4", "Error: %s", st->reason);
		break;
	case ESMTP_TOO_BIG:
		smtp_reply(s, 552, "5.3.4", "Error: %s", st->reason);
		break;
	case ESMTP_BAD:
		smtp_reply(s, 501, "5.5.4", "Error: %s", st->reason);
		break;
	case ESMTP_OK:
		fatalx("params_error without an error");
	}
}

/* The path of MAIL (SENDER) or RCPT into BUF: 0, or -1 after the error
 * reply, BUF emptied.  UTF-8 in a sender is parsed here and refused by
 * smtp_mail unless SMTPUTF8 was given. */
static int
parse_path(struct session *s, const char *arg, int sender, char *buf, size_t len,
    const char **params)
{
	const char *why;
	enum path_error e;

	e = smtp_parse_path(arg, sender ? "FROM:" : "TO:", sender, !sender, sender || s->smtputf8,
	    buf, len, params, &why);
	if (e == PATH_OK)
		return 0;
	buf[0] = '\0';
	path_error(s, e, why, sender);
	return -1;
}

static int
has_8bit(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p > 127)
			return 1;
	return 0;
}

void
smtp_mail(struct session *s, const char *arg)
{
	const char *params;
	struct mail_params mp;
	struct esmtp_status st;

	/* EHLO and AUTH were checked by the command table (smtp_loop.c) */
	if (s->in_transaction) {
		smtp_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (ratelimit_mail(s) < 0)
		return;
	if (parse_path(s, arg, 1, s->mail_from, sizeof(s->mail_from), &params) < 0)
		return;
	if (!esmtp_ext_mail_allowed(s)) {
		s->mail_from[0] = '\0';
		return;
	}
	if (mail_params_parse(params, (s->esmtp ? ESMTP_EHLO : 0) | (session_has_tls(s) ? ESMTP_TLS : 0),
	    s->lim->max_message_size, &mp, &st) < 0) {
		if (st.error == ESMTP_TOO_BIG)
			log_info("reject: MAIL from=<%s> SIZE=%s exceeds the limit of %lld",
			    log_esc(s->mail_from), log_esc(st.value), s->lim->max_message_size);
		s->mail_from[0] = '\0';
		params_error(s, &st);
		return;
	}
	if (!mp.smtputf8 && has_8bit(s->mail_from)) {
		s->mail_from[0] = '\0';
		path_error(s, PATH_NON_ASCII, "", 1);
		return;
	}
	s->declared_size = mp.size;
	s->body = mp.body;
	s->smtputf8 = mp.smtputf8;
	memcpy(s->dsn_ret, mp.ret, sizeof(s->dsn_ret));
	memcpy(s->dsn_envid, mp.envid, sizeof(s->dsn_envid));
	s->requiretls = mp.requiretls;
	s->has_priority = mp.has_priority;
	s->priority = mp.priority;
	s->in_transaction = 1;          /* for the hook's environment */
	if (!session_ask(s, HOOK_MAIL)) {
		log_info("reject: MAIL from=<%s> by the mail hook", log_esc(s->mail_from));
		transaction_reset(s);
		return;
	}
	/* accepted MAIL and RCPT are in the message's status line; the
	 * refusals are logged at info where they happen */
	log_debug("mail from=<%s>%s%s", log_esc(s->mail_from),
	    s->body == BODY_8BITMIME ? " body=8BITMIME" : s->body == BODY_BINARYMIME ? " body=BINARYMIME" : "",
	    s->smtputf8 ? " smtputf8" : "");
	s->ntransactions++;
	smtp_reply(s, 250, "2.1.0", "%s", session_accept_text(s, "Ok"));
}

/* Append LINE and a newline to a growable buffer. */
static int
append_line(char **buf, size_t *len, size_t *cap, const char *line)
{
	size_t l = strlen(line);

	if (growbuf_reserve(buf, cap, *len + l + 2, 1024) < 0)
		return -1;
	memcpy(*buf + *len, line, l);
	*len += l;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
	return 0;
}

static int
add_rcpt(struct session *s, const char *rcpt, const struct rcpt_params *rp)
{
	char dsn[sizeof(rp->notify) + sizeof(rp->orcpt) + 16];

	snprintf(dsn, sizeof(dsn), "NOTIFY=%s ORCPT=%s", rp->notify, rp->orcpt);
	if (append_line(&s->rcpts, &s->rcpts_len, &s->rcpts_cap, rcpt) < 0 ||
	    append_line(&s->rcpts_dsn, &s->rcpts_dsn_len, &s->rcpts_dsn_cap, dsn) < 0)
		return -1;
	s->nrcpts++;
	return 0;
}

void
smtp_rcpt(struct session *s, const char *arg)
{
	const char *params;
	struct esmtp_status st;

	if (parse_path(s, arg, 0, s->last_rcpt, sizeof(s->last_rcpt), &params) < 0)
		return;
	if (rcpt_params_parse(params, s->esmtp, &s->rcpt_dsn, &st) < 0) {
		s->last_rcpt[0] = '\0';
		params_error(s, &st);
		return;
	}
	if (s->nrcpts >= s->lim->max_recipients) {
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (ratelimit_rcpt(s) < 0)
		return;
	if (!session_ask(s, HOOK_RCPT)) {
		log_info("reject: RCPT from=<%s> to=<%s> by the rcpt hook", log_esc(s->mail_from),
		    log_esc(s->last_rcpt));
		return;
	}
	if (add_rcpt(s, s->last_rcpt, &s->rcpt_dsn) < 0) {
		smtp_reply(s, 452, "4.3.1", "Error: insufficient system resources");
		return;
	}
	log_debug("rcpt to=<%s>", log_esc(s->last_rcpt));
	smtp_reply(s, 250, "2.1.5", "%s", session_accept_text(s, "Ok"));
}
