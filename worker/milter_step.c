/* SPDX-License-Identifier: ISC */
/*
 * milter_step.c - a [milter.NAME] step of a pipeline: the session's
 * connection to each milter (one per session per milter, opened at the
 * first stage it takes part in), the macros filled from the session, the
 * event for each stage, and at the data stage the message given to the
 * milter and its edits applied (milter_text.c).  A worker runs one session
 * at a time, so the connections live here, not in struct session.
 */
#include "autoconf.h"
#include "milter_step.h"
#include "milter_text.h"
#include "hook.h"
#include "milter.h"
#include "message.h"
#include "netio.h"
#include "session.h"
#include "../common/log.h"
#include "../common/scoreboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct milter conns[CONFIG_MAX_STEPS];
static int used[CONFIG_MAX_STEPS];
static const struct session *owner;     /* the session the connections are for */
/* Per session: {client_connections}, {client_port} and _ */
static char connections[16], port[16], underscore[400];
static const char *discarded;    /* the name of the milter that discarded the message */
static char quarantine[256];    /* a milter's reason, for later data steps */

/* Strings the macros point to, for the event being sent ({client_port}
 * and _ are made once per session, in session_macros). */
struct macro_text {
	char qid[48];
	char tls_version[64], cipher[64];
	const char *mail_host, *rcpt_host;
};

static void
fill_macros(struct session *s, struct milter_macros *mm, struct macro_text *t)
{
	const char *sp, *at;

	memset(mm, 0, sizeof(*mm));
	if (s->in_transaction)
		snprintf(t->qid, sizeof(t->qid), "%s.%d", s->id, s->nmessages + 1);
	mm->j = s->cfg->hostname;
	mm->underscore = underscore;
	mm->v = "Postern " PACKAGE_VERSION;
	mm->i = s->in_transaction ? t->qid : NULL;
	mm->daemon_name = s->ep->name;
	mm->daemon_addr = s->server_addr;
	mm->client_addr = s->client_addr;
	mm->client_port = port;
	mm->client_name = s->dns.client_name;          /* "unknown" if none (dns.h) */
	mm->client_ptr = s->dns.reverse_client_name;
	mm->client_connections = connections;
	if (session_authenticated(s)) {
		mm->auth_type = s->auth_method;
		mm->auth_authen = s->auth_user;
	}
	/* tls_info is "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	if (session_has_tls(s) && (sp = strchr(s->tls_info, ' ')) != NULL) {
		snprintf(t->tls_version, sizeof(t->tls_version), "%.*s", (int)(sp - s->tls_info), s->tls_info);
		snprintf(t->cipher, sizeof(t->cipher), "%s", sp + 1);
		mm->tls_version = t->tls_version;
		mm->cipher = t->cipher;
	}
	/* as Postfix: the CNs of a verified client certificate (tls_peer.h) */
	if (s->tls_peer.verified) {
		mm->cert_subject = s->tls_peer.subject_cn;
		mm->cert_issuer = s->tls_peer.issuer_cn;
	}
	if (s->in_transaction) {
		mm->mail_mailer = "smtp";
		mm->mail_addr = s->mail_from;
		mm->mail_host = (at = strrchr(s->mail_from, '@')) ? at + 1 : NULL;
		mm->rcpt_mailer = "smtp";
		mm->rcpt_addr = s->last_rcpt[0] ? s->last_rcpt : NULL;
		mm->rcpt_host = (at = strrchr(s->last_rcpt, '@')) ? at + 1 : NULL;
	}
}

/*
 * The macros that do not change in a session.  {client_connections} as
 * Postfix gives it from anvil(8): the sessions open from this client (its
 * IPv4 address or IPv6 /64, as max_connections_per_client counts them),
 * this one included; 0 for a client in limit_exempt, which no per-client
 * limit counts.
 */
static void
session_macros(const struct session *s)
{
	snprintf(underscore, sizeof(underscore), "%s [%s]", s->dns.client_name, s->client_addr);
	snprintf(port, sizeof(port), "%u", s->client_port);
	connections[0] = '\0';
	if (s->sb != NULL)
		snprintf(connections, sizeof(connections), "%d", s->limit_exempt ? 0 :
		    scoreboard_count_client(s->sb, -1, s->rate_key));
}

/* Close every connection (QUIT) when a new session starts or one ends. */
void
milter_step_end_session(void)
{
	int i;

	for (i = 0; i < CONFIG_MAX_STEPS; i++)
		if (used[i]) {
			milter_close(&conns[i]);
			used[i] = 0;
		}
	owner = NULL;   /* the next session may have the same address */
}

void
milter_step_abort(void)
{
	int i;

	discarded = NULL;
	quarantine[0] = '\0';
	for (i = 0; i < CONFIG_MAX_STEPS; i++)
		if (used[i])
			milter_abort(&conns[i]);
}

/* Milter events held (milter.h), sent when the SMTP client has been quiet
 * this long: a few round trips of a distant client, far below any milter's
 * timeout. */
#define QUIET_MS 100

static int
held(void)
{
	int i;

	for (i = 0; i < CONFIG_MAX_STEPS; i++)
		if (used[i] && milter_pending(&conns[i]))
			return 1;
	return 0;
}

static void
send_held(void)
{
	int i;

	for (i = 0; i < CONFIG_MAX_STEPS; i++)
		if (used[i])
			milter_send_pending(&conns[i]);
}

const char *
milter_step_discarded(void)
{
	return discarded;
}

const char *
milter_step_quarantine(void)
{
	return quarantine;
}

/* MAIL's or RCPT's arguments as the client gave them. */
static size_t
envelope_args(struct session *s, enum hook_kind kind, char buf[6][600], const char **args)
{
	size_t n = 0;

	if (kind == HOOK_MAIL) {
		snprintf(buf[n], sizeof(buf[n]), "<%s>", s->mail_from);
		args[n] = buf[n], n++;
		if (s->declared_size >= 0)
			snprintf(buf[n], sizeof(buf[n]), "SIZE=%lld", s->declared_size), args[n] = buf[n], n++;
		if (s->body != BODY_7BIT)
			args[n++] = s->body == BODY_8BITMIME ? "BODY=8BITMIME" : "BODY=BINARYMIME";
		if (s->smtputf8)
			args[n++] = "SMTPUTF8";
		if (s->dsn_ret[0])
			snprintf(buf[n], sizeof(buf[n]), "RET=%s", s->dsn_ret), args[n] = buf[n], n++;
		if (s->dsn_envid[0])
			snprintf(buf[n], sizeof(buf[n]), "ENVID=%s", s->dsn_envid), args[n] = buf[n], n++;
		return n;
	}
	snprintf(buf[n], sizeof(buf[n]), "<%s>", s->last_rcpt);
	args[n] = buf[n], n++;
	if (s->rcpt_dsn.notify[0])
		snprintf(buf[n], sizeof(buf[n]), "NOTIFY=%s", s->rcpt_dsn.notify), args[n] = buf[n], n++;
	if (s->rcpt_dsn.orcpt[0])
		snprintf(buf[n], sizeof(buf[n]), "ORCPT=%s", s->rcpt_dsn.orcpt), args[n] = buf[n], n++;
	return n;
}

/* The connection for step ST, connected (CONNECT sent) on first use. */
static struct milter *
conn_for(struct session *s, const struct step *st, const struct milter_macros *mm,
    struct milter_result *mr)
{
	int k = (int)(st - s->cfg->steps);
	struct milter *m = &conns[k];
	char hostname[DNS_NAME_MAX + 1];

	if (!used[k]) {
		struct milter_settings set = { st->name, st->milter.socket,
			st->milter.default_action == MILTER_ACCEPT ? MILTER_DEFAULT_ACCEPT :
			st->milter.default_action == MILTER_REJECT ? MILTER_DEFAULT_REJECT :
			MILTER_DEFAULT_TEMPFAIL,
			st->milter.connect_timeout, st->milter.command_timeout,
			st->milter.content_timeout };
		milter_init(m, &set);
		used[k] = 1;
		netio_set_idle(s->io, QUIET_MS, held, send_held);
		/* the verified name, or [address] as Sendmail gives it */
		if (strcmp(s->dns.client_name, "unknown") != 0)
			strlcpy(hostname, s->dns.client_name, sizeof(hostname));
		else
			snprintf(hostname, sizeof(hostname), "[%s]", s->client_addr);
		milter_connect(m, mm, hostname, strchr(s->client_addr, ':') ? SMFIA_INET6 : SMFIA_INET,
		    s->client_port, s->client_addr, mr);
	}
	return m;
}

static void
to_hook_result(const struct step *st, const struct milter_result *mr, struct hook_result *res)
{
	hook_result_init(res);
	switch (mr->verdict) {
	case MILTER_V_PASS:
	case MILTER_V_DISCARD:
		res->verdict = HOOK_ACCEPT;
		res->exit_status = 0;
		return;
	case MILTER_V_REJECT:
		res->verdict = HOOK_REJECT;
		res->exit_status = 1;
		break;
	case MILTER_V_TEMPFAIL:
		res->verdict = HOOK_TEMPFAIL;
		res->exit_status = 75;
		break;
	}
	strlcpy(res->reply, mr->reply, sizeof(res->reply));
	if (!mr->failed)
		log_info("milter %s: %s", st->name, mr->reply);
}

static void
data_stage(struct session *s, const struct step *st, struct milter *m,
    const struct milter_macros *mm, struct message *msg, struct milter_result *mr)
{
	struct milter_edits ed;
	size_t len;
	char *text;

	milter_data(m, mm, mr);
	if (mr->verdict != MILTER_V_PASS)
		return;
	if ((text = milter_text_read(msg, &len)) == NULL) {
		milter_fail(m, mr, "cannot read the message: %s", strerror(errno));
		return;
	}
	memset(&ed, 0, sizeof(ed));
	milter_message(m, mm, text, len, &ed, mr);
	if (mr->verdict == MILTER_V_PASS) {
		if (ed.quarantine[0]) {
			size_t i;

			log_info("%s: milter %s: quarantine: %s", s->queue_id, st->name, log_esc(ed.quarantine));
			/* for POSTERN_QUARANTINE: printable text, spaces kept (the
			 * log's escaping is for log lines only) */
			strlcpy(quarantine, ed.quarantine, sizeof(quarantine));
			for (i = 0; quarantine[i] != '\0'; i++)
				if ((unsigned char)quarantine[i] < 0x20 || (unsigned char)quarantine[i] >= 0x7f)
					quarantine[i] = '?';
		}
		if (milter_text_apply(s, st->name, &ed, msg, text, len) < 0) {
			log_err("%s: milter %s: cannot apply the edits: %s", s->queue_id, st->name, strerror(errno));
			mr->verdict = MILTER_V_TEMPFAIL;
			strlcpy(mr->reply, "451 4.3.0 Error: local error applying a filter's changes, try again later",
			    sizeof(mr->reply));
			mr->failed = 1;
		}
	}
	milter_edits_free(&ed);
	free(text);
}

int
milter_step_unknown(struct session *s, const char *line)
{
	struct milter_macros mm;
	struct macro_text t;
	struct milter_result mr;
	int i;

	fill_macros(s, &mm, &t);
	for (i = 0; i < s->ep->npipeline; i++) {
		int k = s->ep->pipeline[i];
		if (s->cfg->steps[k].kind != STEP_MILTER || !used[k])
			continue;
		milter_unknown(&conns[k], &mm, line, &mr);
		if (mr.verdict == MILTER_V_REJECT || mr.verdict == MILTER_V_TEMPFAIL) {
			reply(s, "%s", mr.reply);
			return 1;
		}
	}
	return 0;
}

/*
 * As Postfix's smtpd: a 4xx at CONNECT (the milter's refusal, or its
 * failure with default_action tempfail) leaves the greeting 220, a failure
 * at HELO (tempfail or reject) leaves HELO 250, and the session reply it
 * set refuses every command from MAIL on; 5xx at CONNECT makes the
 * greeting 554, 421 ends the session.  MR: this event's result (NULL: a
 * session reply set earlier, which HELO never gets).
 */
static int
spares(enum hook_kind kind, const struct milter_result *mr)
{
	if (mr == NULL)
		return kind == HOOK_CONNECT || kind == HOOK_HELO;
	if (mr->verdict == MILTER_V_PASS || strncmp(mr->reply, "421", 3) == 0)
		return 0;
	return (kind == HOOK_CONNECT && mr->verdict == MILTER_V_TEMPFAIL) ||
	    (kind == HOOK_HELO && mr->failed);
}

void
milter_step_run(struct session *s, const struct step *st, enum hook_kind kind,
    struct message *msg, struct hook_result *res)
{
	struct milter_macros mm;
	struct macro_text t;
	struct milter_result mr;
	struct milter *m;
	char buf[6][600];
	const char *args[6];
	size_t n;

	if (owner != s) {               /* a new session: nothing from the last */
		milter_step_end_session();
		owner = s;
		session_macros(s);
	}
	fill_macros(s, &mm, &t);
	memset(&mr, 0, sizeof(mr));
	m = conn_for(s, st, &mm, &mr);
	if (mr.verdict == MILTER_V_PASS && milter_session_reply(m)[0] == '\0') {
		switch (kind) {
		case HOOK_HELO:
			milter_helo(m, &mm, s->helo, &mr);
			break;
		case HOOK_MAIL:
		case HOOK_RCPT:
			n = envelope_args(s, kind, buf, args);
			if (kind == HOOK_MAIL)
				milter_mail(m, &mm, args, n, &mr);
			else
				milter_rcpt(m, &mm, args, n, &mr);
			break;
		case HOOK_DATA:
			if (msg != NULL)
				data_stage(s, st, m, &mm, msg, &mr);
			break;
		default:
			break;
		}
	}
	if (spares(kind, &mr)) {
		log_info("milter %s: %s at %s: the session goes on, every command from MAIL on gets it",
		    st->name, mr.reply, hook_name(kind));
		memset(&mr, 0, sizeof(mr));     /* the session reply stays */
	}
	if (mr.verdict == MILTER_V_PASS && milter_session_reply(m)[0] != '\0' &&
	    !spares(kind, NULL)) {
		/* refused at CONNECT, or failed with tempfail/reject: so is every
		 * later command of the session */
		mr.verdict = milter_session_reply(m)[0] == '5' ? MILTER_V_REJECT : MILTER_V_TEMPFAIL;
		strlcpy(mr.reply, milter_session_reply(m), sizeof(mr.reply));
		mr.failed = 1;
	}
	if (mr.verdict == MILTER_V_DISCARD && discarded == NULL) {
		log_info("%s: discarded by milter %s (at %s)", s->in_transaction ? t.qid : "-", st->name,
		    hook_name(kind));
		discarded = st->name;
	}
	to_hook_result(st, &mr, res);
}
