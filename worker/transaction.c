/*
 * transaction.c - the mail transaction (RFC 5321 3.3): MAIL FROM with its
 * SIZE and BODY parameters (RFC 1870, RFC 6152), RCPT TO, and DATA, whose
 * message is spooled, then given to the data hook.  The client gets 250 only
 * after the data hook accepted the message.
 */
#include "autoconf.h"
#include "session.h"
#include "data.h"
#include "hook.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_DATA_RATE 1024      /* bytes/s a slow DATA must keep up (deadline extension) */

void
transaction_reset(struct session *s)
{
	s->in_transaction = 0;
	s->mail_from[0] = '\0';
	s->declared_size = -1;
	s->body_8bit = 0;
	s->rcpts_len = 0;
	s->nrcpts = 0;
	s->last_rcpt[0] = '\0';
	if (s->rcpts != NULL)
		s->rcpts[0] = '\0';
}

/* A reply for a path that did not parse. */
static void
path_error(struct session *s, enum path_error e, const char *why, int sender)
{
	switch (e) {
	case PATH_SYNTAX:
		reply(s, "501 5.5.4 Syntax: %s (%s)", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>", why);
		break;
	case PATH_TOO_LONG:
		reply(s, "501 5.5.4 Error: path too long (%s)", why);
		break;
	case PATH_NON_ASCII:
		reply(s, "553 5.6.7 Error: must declare SMTPUTF8 to send unicode address");
		break;
	default:
		reply(s, "501 %s Error: bad %s address syntax (%s)", sender ? "5.1.7" : "5.1.3",
		    sender ? "sender" : "recipient", why);
		break;
	}
}

/* SIZE=digits, checked for overflow (RFC 1870). */
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
			return -2;      /* absurdly large: over any limit */
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return 0;
}

void
smtp_mail(struct session *s, const char *arg)
{
	const char *params, *why;
	char kw[32], val[256];
	enum path_error e;
	int seen_size = 0, seen_body = 0, seen_auth = 0, rc;
	long long size = -1;

	if (s->helo[0] == '\0') {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_transaction) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (s->ep->auth == AUTH_REQUIRED && s->auth_user[0] == '\0') {
		reply(s, "530 5.7.0 Error: authentication required");
		return;
	}
	e = smtp_parse_path(arg, "FROM:", 1, 0, s->mail_from, sizeof(s->mail_from), &params, &why);
	if (e != PATH_OK) {
		s->mail_from[0] = '\0';
		path_error(s, e, why, 1);
		return;
	}
	s->body_8bit = 0;
	while ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) == 1) {
		if (!s->esmtp) {
			reply(s, "555 5.5.4 Error: MAIL parameters need EHLO");
			return;
		}
		if (strcmp(kw, "SIZE") == 0) {
			int r;
			if (seen_size++) {
				reply(s, "501 5.5.4 Error: duplicate SIZE parameter");
				return;
			}
			r = parse_size(val, &size);
			if (r == -1) {
				reply(s, "501 5.5.4 Error: bad SIZE parameter syntax");
				return;
			}
			if (r == -2 || (s->lim->max_message_size > 0 && size > s->lim->max_message_size)) {
				log_info("reject: MAIL from=<%s> SIZE=%s exceeds the limit of %lld",
				    s->mail_from, val, s->lim->max_message_size);
				reply(s, "552 5.3.4 Error: message size exceeds fixed limit");
				return;
			}
		} else if (strcmp(kw, "AUTH") == 0) {
			/* RFC 4954 5: the submitter's identity; we do not relay, so
			 * it is checked for syntax and otherwise ignored. */
			if (seen_auth++) {
				reply(s, "501 5.5.4 Error: duplicate AUTH parameter");
				return;
			}
		} else if (strcmp(kw, "BODY") == 0) {
			if (seen_body++) {
				reply(s, "501 5.5.4 Error: duplicate BODY parameter");
				return;
			}
			if (strcasecmp(val, "8BITMIME") == 0)
				s->body_8bit = 1;
			else if (strcasecmp(val, "7BIT") != 0) {
				reply(s, "501 5.5.4 Error: BODY can only be one of 7BIT, 8BITMIME");
				return;
			}
		} else {
			reply(s, "555 5.5.4 Error: unsupported parameter %s", kw);
			return;
		}
	}
	if (rc < 0) {
		reply(s, "501 5.5.4 Error: bad parameter syntax");
		return;
	}
	s->declared_size = size;
	s->in_transaction = 1;          /* for the hook's environment */
	if (!session_ask(s, HOOK_MAIL)) {
		log_info("reject: MAIL from=<%s> by the mail hook", s->mail_from);
		transaction_reset(s);
		return;
	}
	log_info("mail from=<%s>%s", s->mail_from, s->body_8bit ? " body=8BITMIME" : "");
	reply(s, "250 2.1.0 Ok");
}

static int
add_rcpt(struct session *s, const char *rcpt)
{
	size_t len = strlen(rcpt);

	if (s->rcpts_len + len + 2 > s->rcpts_cap) {
		size_t cap = s->rcpts_cap ? s->rcpts_cap * 2 : 1024;
		char *p;
		while (cap < s->rcpts_len + len + 2)
			cap *= 2;
		if ((p = realloc(s->rcpts, cap)) == NULL)
			return -1;
		s->rcpts = p;
		s->rcpts_cap = cap;
	}
	memcpy(s->rcpts + s->rcpts_len, rcpt, len);
	s->rcpts_len += len;
	s->rcpts[s->rcpts_len++] = '\n';
	s->rcpts[s->rcpts_len] = '\0';
	s->nrcpts++;
	return 0;
}

void
smtp_rcpt(struct session *s, const char *arg)
{
	const char *params, *why;
	char kw[32], val[256];
	enum path_error e;
	int rc;

	if (!s->in_transaction) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	e = smtp_parse_path(arg, "TO:", 0, 1, s->last_rcpt, sizeof(s->last_rcpt), &params, &why);
	if (e != PATH_OK) {
		s->last_rcpt[0] = '\0';
		path_error(s, e, why, 0);
		return;
	}
	if ((rc = smtp_next_param(&params, kw, sizeof(kw), val, sizeof(val))) != 0) {
		if (rc < 0)
			reply(s, "501 5.5.4 Error: bad parameter syntax");
		else
			reply(s, "555 5.5.4 Error: unsupported parameter %s", kw);
		return;
	}
	if (s->nrcpts >= s->lim->max_recipients) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (!session_ask(s, HOOK_RCPT)) {
		log_info("reject: RCPT from=<%s> to=<%s> by the rcpt hook", s->mail_from, s->last_rcpt);
		return;
	}
	if (add_rcpt(s, s->last_rcpt) < 0) {
		reply(s, "452 4.3.1 Error: insufficient system resources");
		return;
	}
	log_info("rcpt to=<%s>", s->last_rcpt);
	reply(s, "250 2.1.5 Ok");
}

/* Receive the message text into the spool.  Returns 0 when the end of data
 * was read, -1 when the session is over (the reply, if any, is queued). */
static int
receive_text(struct session *s, struct data_reader *dr)
{
	struct timespec deadline = netio_deadline(s->lim->data_timeout);
	long long credit = 0;

	for (;;) {
		const char *p;
		size_t n, used;
		int done, rc;

		rc = netio_peek(s->io, &p, &n, &deadline);
		if (rc != NETIO_OK) {
			if (rc == NETIO_TIMEOUT) {
				log_info("timeout during DATA after %lld bytes: disconnecting", dr->size);
				reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
			} else if (rc == NETIO_ABORT) {
				reply(s, "421 4.3.2 %s Service shutting down, try again later", s->cfg->hostname);
			} else {
				log_info("lost connection during DATA after %lld bytes", dr->size);
			}
			s->quit = 1;
			return -1;
		}
		used = data_reader_feed(dr, p, n, &done);
		netio_consume(s->io, used);
		s->bytes_in += (long long)used;
		/* A slow but steady sender earns time: 1 s per MIN_DATA_RATE bytes. */
		credit += (long long)used;
		if (credit >= MIN_DATA_RATE) {
			deadline.tv_sec += credit / MIN_DATA_RATE;
			credit %= MIN_DATA_RATE;
		}
		if (done)
			return 0;
	}
}

void
smtp_data(struct session *s, const char *arg)
{
	struct data_reader dr;
	struct hook_result res;
	struct timespec t0, t1;
	char qid[32];
	double delay;

	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_transaction) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(qid, sizeof(qid), "%s.%d", s->id, s->nmessages + 1);
	if (spool_reset(&s->spool) < 0) {
		log_err("cannot reset the spool file: %s", strerror(errno));
		reply(s, "451 4.3.0 Error: local error, try again later");
		return;
	}
	received_write(s, qid);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	data_reader_init(&dr, &s->spool, s->lim->max_message_size, s->cfg->data_crlf);
	setproctitle("worker %s DATA", s->client_addr);
	if (receive_text(s, &dr) < 0) {
		transaction_reset(s);
		return;
	}
	setproctitle("worker %s", s->client_addr);
	if (dr.too_big) {
		log_info("reject: %s from=<%s> size=%lld: over the limit of %lld bytes", qid,
		    s->mail_from, dr.size, s->lim->max_message_size);
		reply(s, "552 5.3.4 Error: message too big (the limit is %lld bytes)",
		    s->lim->max_message_size);
	} else if (dr.long_line) {
		log_info("reject: %s from=<%s>: a text line is longer than 1000 octets", qid, s->mail_from);
		reply(s, "554 5.6.0 Error: a line of the message is longer than 1000 octets (RFC 5321 4.5.3.1.6)");
	} else if (spool_finish(&s->spool) < 0) {
		log_err("%s: cannot write the spool file in %s: %s", qid, s->cfg->spool_directory, strerror(errno));
		reply(s, "451 4.3.0 Error: local error writing the message, try again later");
	} else {
		/* The hook reads the spool through its own read-only descriptor:
		 * it cannot write into it, nor move the worker's file offset. */
		char self[64];
		int ro;
		snprintf(self, sizeof(self), "/proc/self/fd/%d", s->spool.fd);
		ro = open(self, O_RDONLY | O_CLOEXEC);
		session_hook(s, HOOK_DATA, ro >= 0 ? ro : s->spool.fd, s->rcpts, s->rcpts_len, &res);
		if (ro >= 0)
			close(ro);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		delay = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (res.verdict == HOOK_ACCEPT) {
			s->nmessages++;
			log_info("%s: from=<%s> nrcpt=%d size=%lld delay=%.3f status=sent", qid,
			    s->mail_from, s->nrcpts, dr.size, delay);
			if (res.reply[0] != '\0')
				reply(s, "%s", res.reply);
			else
				reply(s, "250 2.0.0 Ok: queued as %s", qid);
		} else {
			log_info("%s: from=<%s> nrcpt=%d size=%lld delay=%.3f status=%s (data hook exit %d)",
			    qid, s->mail_from, s->nrcpts, dr.size, delay,
			    res.verdict == HOOK_REJECT ? "rejected" : "deferred", res.exit_status);
			session_refuse(s, HOOK_DATA, &res);
		}
	}
	transaction_reset(s);
}
