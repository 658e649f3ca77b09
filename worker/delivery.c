/* SPDX-License-Identifier: ISC */
/*
 * delivery.c - DATA and BDAT (RFC 5321 4.1.1.4, RFC 3030): the message text
 * is spooled, then given to the data steps (pipeline.c).  The client gets
 * 250 only after every data step accepted the message.
 */
#include "autoconf.h"
#include "delivery.h"
#include "transaction.h"
#include "session.h"
#include "data.h"
#include "pipeline.h"
#include "decision.h"
#include "hook.h"
#include "milter_step.h"
#include "limits.h"
#include "received.h"
#include "lmtp.h"
#include "rcpt_answers.h"
#include "../common/deadline.h"
#include "../common/log.h"
#include "../common/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MIN_DATA_RATE 1024      /* bytes/s a slow DATA must keep up (deadline extension) */

/* A slow but steady sender earns time: 1 s per MIN_DATA_RATE octets
 * received, counted in *CREDIT. */
static void
data_credit(struct timespec *deadline, unsigned long long *credit, size_t n)
{
	*credit += n;
	if (*credit >= MIN_DATA_RATE) {
		deadline_extend(deadline, (long long)(*credit / MIN_DATA_RATE));
		*credit %= MIN_DATA_RATE;
	}
}

/* Receive the message text into the spool.  Returns 0 when the end of data
 * was read, -1 when the session is over (the reply, if any, is queued). */
static int
receive_text(struct session *s, struct data_reader *dr)
{
	struct timespec deadline = deadline_in(s->lim->data_timeout);
	unsigned long long credit = 0;

	netio_set_bulk(s->io, 1);
	for (;;) {
		const char *p;
		size_t n, used;
		int done, rc;

		rc = netio_peek(s->io, &p, &n, &deadline);
		if (rc != NETIO_OK) {
			char where[64];
			snprintf(where, sizeof(where), " during DATA after %lld bytes", dr->size);
			session_gone(s, rc, where + 1, where);
			netio_set_bulk(s->io, 0);
			return -1;
		}
		used = data_reader_feed(dr, p, n, &done);
		netio_consume(s->io, used);
		s->bytes_in += (long long)used;
		data_credit(&deadline, &credit, used);
		if (done) {
			netio_set_bulk(s->io, 0);
			return 0;
		}
	}
}

/* "to=<a>,<b>" for the status line: the first recipients, then a count. */
static void
rcpt_summary(const struct session *s, char *out, size_t outlen)
{
	const char *p = s->rcpts != NULL ? s->rcpts : "";
	size_t o = 0;
	int shown = 0;

	out[0] = '\0';
	while (*p != '\0') {
		size_t l = strcspn(p, "\n");
		char esc[SMTP_PATH_MAX * 4 + 1];

		log_sanitize(esc, sizeof(esc), p, l);
		if (o + strlen(esc) + 4 + 24 >= outlen) {
			snprintf(out + o, outlen - o, " (+%d more)", s->nrcpts - shown);
			return;
		}
		o += (size_t)snprintf(out + o, outlen - o, "%s<%s>", shown ? "," : "", esc);
		shown++;
		p += l + (p[l] == '\n');
	}
}

/* A refusal of the whole message before any step saw it. */
static void __attribute__((format(printf, 3, 4)))
refuse_message(struct hook_result *res, enum hook_verdict v, const char *fmt, ...)
{
	va_list ap;

	hook_result_init(res);
	res->verdict = v;
	va_start(ap, fmt);
	vsnprintf(res->reply, sizeof(res->reply), fmt, ap);
	va_end(ap);
}

/* The message is in the spool: check it, give it to the data steps, reply
 * (on an LMTP endpoint once per recipient: lmtp.c). */
static void
deliver(struct session *s, struct data_reader *dr)
{
	struct hook_result res;
	double delay;
	const char *qid = s->queue_id;
	char to[1200];
	int ok = 0;

	setproctitle("worker %s", s->client_addr);
	if (dr->bare_lf && s->lim->bare_newline == BARE_NEWLINE_REJECT) {
		/* as Postfix 3.9's smtpd_forbid_bare_newline = yes */
		log_info("reject: %s from=<%s>: bare <LF> received (bare_newline = reject): disconnecting",
		    qid, log_esc(s->mail_from));
		refuse_message(&res, HOOK_REJECT, "521 5.5.2 %s Error: bare <LF> received", s->cfg->hostname);
		s->quit = 1;
	} else if (dr->too_big) {
		log_info("reject: %s from=<%s> size=%lld: over the limit of %lld bytes", qid,
		    log_esc(s->mail_from), dr->size, s->lim->max_message_size);
		refuse_message(&res, HOOK_REJECT, "552 5.3.4 Error: message too big (the limit is %lld bytes)",
		    s->lim->max_message_size);
	} else if (dr->long_line) {
		log_info("reject: %s from=<%s>: a text line is longer than 1000 octets", qid,
		    log_esc(s->mail_from));
		refuse_message(&res, HOOK_REJECT, "554 5.6.0 Error: a line of the message is longer than 1000 octets (RFC 5321 4.5.3.1.6)");
	} else if (spool_finish(&s->spool) < 0) {
		log_err("%s: cannot write the spool file in %s: %s", qid, s->cfg->spool_directory, strerror(errno));
		refuse_message(&res, HOOK_TEMPFAIL, "451 4.3.0 Error: local error writing the message, try again later");
	} else {
		const char *decider;
		ok = session_deliver(s, &res, &decider);
		delay = monotonic_since(&s->data_started);
		rcpt_summary(s, to, sizeof(to));
		if (ok) {
			s->nmessages++;
			log_info("%s: from=<%s> to=%s nrcpt=%d size=%lld delay=%.3f status=sent", qid,
			    log_esc(s->mail_from), to, s->nrcpts, dr->size, delay);
		} else {
			log_info("%s: from=<%s> to=%s nrcpt=%d size=%lld delay=%.3f status=%s (%s hook exit %d)",
			    qid, log_esc(s->mail_from), to, s->nrcpts, dr->size, delay,
			    res.verdict == HOOK_REJECT ? "rejected" : "deferred", decider, res.exit_status);
		}
	}
	metrics_message(metrics_shared, metrics_find_endpoint(metrics_shared, s->ep->name),
	    ok ? (milter_step_discarded() != NULL ? MSG_DISCARDED : MSG_ACCEPTED) :
	    res.verdict == HOOK_REJECT ? MSG_REJECTED : MSG_TEMPFAILED);
	if (s->ep->protocol == PROTO_LMTP)
		lmtp_replies(s, ok, &res);
	else if (ok && hook_result_has_reply(&res))
		reply(s, "%s", res.reply);
	else if (ok)
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
	else
		session_refuse(s, HOOK_DATA, &res);
	rcpt_table_end();
	transaction_reset(s);
}

/* Start the message: empty the spool, write the Received header. */
static int
message_start(struct session *s, struct data_reader *dr)
{
	s->data_started = monotonic_now();
	snprintf(s->queue_id, sizeof(s->queue_id), "%s.%d", s->id, s->nmessages + 1);
	if (spool_reset(&s->spool) < 0) {
		log_err("cannot reset the spool file: %s", strerror(errno));
		smtp_reply(s, 451, "4.3.0", "Error: local error, try again later");
		return -1;
	}
	received_write(s, s->queue_id);
	data_reader_init(dr, &s->spool, s->lim->max_message_size, s->cfg->data_crlf);
	return 0;
}

void
smtp_data(struct session *s, const char *arg)
{
	struct data_reader dr;

	(void)arg;      /* none, and a transaction: the command table checked */
	if (s->chunking) {
		smtp_reply(s, 503, "5.5.1", "Error: DATA after BDAT (send RSET)");
		return;
	}
	if (s->body == BODY_BINARYMIME) {
		smtp_reply(s, 503, "5.5.1", "Error: BODY=BINARYMIME needs BDAT, not DATA");
		return;
	}
	if (s->nrcpts == 0) {     /* LMTP: 503 (RFC 2033 4.2) */
		smtp_reply(s, s->ep->protocol == PROTO_LMTP ? 503 : 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	if (message_start(s, &dr) < 0)
		return;
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	setproctitle("worker %s DATA", s->client_addr);
	if (receive_text(s, &dr) < 0) {
		transaction_reset(s);
		return;
	}
	deliver(s, &dr);
}

/*
 * Read the N octets of a chunk: into the message when DR is not NULL,
 * else thrown away (a chunk that must be read but is refused).  Returns 0,
 * or -1 when the session is over.
 */
static int
read_chunk(struct session *s, unsigned long long n, struct data_reader *dr, int binary)
{
	struct timespec deadline = deadline_in(s->lim->data_timeout);
	unsigned long long credit = 0;

	netio_set_bulk(s->io, 1);
	while (n > 0) {
		const char *p;
		size_t avail, take;
		int rc = netio_peek(s->io, &p, &avail, &deadline);

		if (rc != NETIO_OK) {
			char where[80];
			snprintf(where, sizeof(where), "during BDAT with %llu octets still to come", n);
			session_gone(s, rc, where, " during BDAT");
			netio_set_bulk(s->io, 0);
			return -1;
		}
		take = avail < n ? avail : (size_t)n;
		if (dr != NULL)
			data_reader_raw(dr, p, take, binary);
		netio_consume(s->io, take);
		s->bytes_in += (long long)take;
		n -= take;
		data_credit(&deadline, &credit, take);
	}
	netio_set_bulk(s->io, 0);
	return 0;
}

/* RFC 3030: BDAT size [LAST]. */
void
smtp_bdat(struct session *s, const char *arg)
{
	unsigned long long n = 0;
	const char *p = arg;
	int last = 0, digits = 0, refused;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 18) {
			/* More than we could ever read: the stream cannot be
			 * resynchronised, so the session ends. */
			smtp_reply(s, 552, "5.3.4", "Error: chunk size too large");
			session_close_421(s, "closing the connection");
			return;
		}
		n = n * 10 + (unsigned)(*p - '0');
	}
	if (digits > 0 && *p == ' ' && strcasecmp(p + 1, "LAST") == 0)
		last = 1;
	else if (digits == 0 || *p != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		return;
	}
	if ((refused = limits_bdat(s, n, lmtp_bdat_replies(s, last))) != LIMITS_BDAT_READ) {
		if (refused == LIMITS_BDAT_TOO_BIG)
			transaction_reset(s);
		limits_bdat_drop(s, n);
		return;
	}
	if (!s->in_transaction || s->nrcpts == 0 || s->chunk_failed) {
		/* The octets follow anyway: read them, then refuse. */
		if (read_chunk(s, n, NULL, 0) < 0)
			return;
		if (!s->in_transaction)
			smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		else if (s->chunk_failed) {
			int k, times = lmtp_bdat_replies(s, last);
			for (k = 0; k < times; k++)
				smtp_reply(s, 451, "4.3.0", "Error: an earlier chunk failed, send RSET and try again");
		} else
			smtp_reply(s, s->ep->protocol == PROTO_LMTP ? 503 : 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	if (!s->chunking) {
		if (message_start(s, &s->chunk_reader) < 0) {  /* one 451 queued */
			int k, times = lmtp_bdat_replies(s, last);
			s->chunk_failed = 1;
			for (k = 1; k < times; k++)
				smtp_reply(s, 451, "4.3.0", "Error: local error, try again later");
			read_chunk(s, n, NULL, 0);
			return;
		}
		s->chunking = 1;
		setproctitle("worker %s BDAT", s->client_addr);
	}
	if (read_chunk(s, n, &s->chunk_reader, s->body == BODY_BINARYMIME) < 0) {
		transaction_reset(s);
		return;
	}
	if (s->chunk_reader.too_big) {
		/* Refuse now; the client must not send more chunks (RFC 3030 2).
		 * LMTP: only BDAT LAST has a reply per recipient. */
		if (!last && s->ep->protocol == PROTO_LMTP) {
			smtp_reply(s, 552, "5.3.4", "Error: message too big (the limit is %lld bytes)",
			    s->lim->max_message_size);
			transaction_reset(s);
			return;
		}
		deliver(s, &s->chunk_reader);
		return;
	}
	if (!last) {
		smtp_reply(s, 250, "2.0.0", "Ok: %llu octets received", n);
		return;
	}
	data_reader_raw_end(&s->chunk_reader);
	deliver(s, &s->chunk_reader);
}
