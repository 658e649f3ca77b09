/* SPDX-License-Identifier: ISC */
/*
 * milter_step.c - a [milter.NAME] step of a pipeline: the session's
 * connection to each milter (one per session per milter, opened at the
 * first stage it takes part in), the macros filled from the session, the
 * event for each stage, and at the data stage the message given to the
 * milter and its edits applied: a new message file for the next step, the
 * new envelope in the session.  A worker runs one session at a time, so the
 * connections live here, not in struct session.
 */
#include "autoconf.h"
#include "milter_step.h"
#include "hook.h"
#include "milter.h"
#include "message.h"
#include "session.h"
#include "spool.h"
#include "../common/log.h"
#include "../common/writeall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static struct milter conns[CONFIG_MAX_STEPS];
static int used[CONFIG_MAX_STEPS];
static const char *discarded;    /* the name of the milter that discarded the message */
static char quarantine[256];    /* a milter's reason, for later data steps */

/* Strings the macros point to, for the event being sent. */
struct macro_text {
	char underscore[400], port[16], qid[48], connections[16];
	char tls_version[64], cipher[64];
	const char *mail_host, *rcpt_host;
};

static void
fill_macros(struct session *s, struct milter_macros *mm, struct macro_text *t)
{
	const char *sp, *at;

	memset(mm, 0, sizeof(*mm));
	snprintf(t->underscore, sizeof(t->underscore), "%s [%s]",
	    s->dns.client_name[0] ? s->dns.client_name : "unknown", s->client_addr);
	snprintf(t->port, sizeof(t->port), "%u", s->client_port);
	snprintf(t->qid, sizeof(t->qid), "%s.%d", s->id, s->nmessages + 1);
	mm->j = s->cfg->hostname;
	mm->underscore = t->underscore;
	mm->v = "Postern " PACKAGE_VERSION;
	mm->i = s->in_transaction ? t->qid : NULL;
	mm->daemon_name = s->ep->name;
	mm->daemon_addr = s->server_addr;
	mm->client_addr = s->client_addr;
	mm->client_port = t->port;
	mm->client_name = s->dns.client_name[0] ? s->dns.client_name : "unknown";
	mm->client_ptr = s->dns.reverse_client_name[0] ? s->dns.reverse_client_name : "unknown";
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
		/* the verified name, or [address] as Sendmail gives it */
		if (s->dns.client_name[0] && strcmp(s->dns.client_name, "unknown") != 0)
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

/* The message of M as CR LF bytes (the spool may keep LF line ends). */
static char *
read_message(const struct message *m, size_t *len)
{
	size_t n = (size_t)m->len, i, o = 0;
	char *raw = malloc(n + 1), *out;
	ssize_t r;

	if (raw == NULL)
		return NULL;
	for (i = 0; i < n; i += (size_t)r)
		if ((r = message_read(m, raw + i, n - i, (long long)i)) <= 0) {
			free(raw);
			return NULL;
		}
	if (m->crlf) {
		*len = n;
		return raw;
	}
	if ((out = malloc(n * 2 + 1)) != NULL)
		for (i = 0; i < n; i++) {
			if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
				out[o++] = '\r';
			out[o++] = raw[i];
		}
	free(raw);
	*len = o;
	return out;
}

/* The edited message P (LEN octets, ours to change) into a new file for
 * the next step in one write: CR LF made LF first, in place, if the spool
 * keeps LF (a write per line cost 30 syscalls for a 1 KiB message). */
static int
write_message(struct message *m, char *p, size_t len)
{
	size_t i, o;
	int fd;

	if (!m->crlf) {
		for (i = o = 0; i < len; i++)
			if (!(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
				p[o++] = p[i];
		len = o;
	}
	if ((fd = spool_tmpfile(m->dir)) < 0)
		return -1;
	if (write_all(fd, p, len, NULL) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	message_replace(m, fd, (long long)len);
	return 0;
}

/* The session's envelope as the edits see it, and back. */
static int
envelope_get(struct session *s, struct milter_envelope *env)
{
	const char *p = s->rcpts ? s->rcpts : "", *d = s->rcpts_dsn ? s->rcpts_dsn : "";

	memset(env, 0, sizeof(*env));
	if (milter_envelope_set_sender(env, s->mail_from, "") < 0)
		return -1;
	while (*p) {
		size_t l = strcspn(p, "\n"), dl = strcspn(d, "\n");
		char addr[SMTP_PATH_MAX + 1], dsn[600];
		snprintf(addr, sizeof(addr), "%.*s", (int)l, p);
		snprintf(dsn, sizeof(dsn), "%.*s", (int)dl, d);
		if (milter_envelope_add_rcpt(env, addr, dsn) < 0)
			return -1;
		p += l + (p[l] == '\n');
		d += dl + (d[dl] == '\n');
	}
	return 0;
}

/* "NOTIFY=x ORCPT=y" from a milter's ESMTP arguments. */
static void
dsn_of(const char *args, char *out, size_t outlen)
{
	char notify[64] = "", orcpt[520] = "";
	const char *p = args;

	while (*p) {
		size_t l = strcspn(p, " ");
		if (strncasecmp(p, "NOTIFY=", 7) == 0)
			snprintf(notify, sizeof(notify), "%.*s", (int)l - 7, p + 7);
		else if (strncasecmp(p, "ORCPT=", 6) == 0)
			snprintf(orcpt, sizeof(orcpt), "%.*s", (int)l - 6, p + 6);
		p += l + (p[l] == ' ');
	}
	snprintf(out, outlen, "NOTIFY=%s ORCPT=%s", notify, orcpt);
}

static int
envelope_put(struct session *s, const struct milter_envelope *env)
{
	size_t i, n = 0, dn = 0, cap = 1, dcap = 1;
	char *r, *d;

	for (i = 0; i < env->nrcpts; i++) {
		cap += strlen(env->rcpts[i].addr) + 1;
		dcap += strlen(env->rcpts[i].args) + 600;
	}
	if ((r = malloc(cap)) == NULL || (d = malloc(dcap)) == NULL) {
		free(r);
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++) {
		char dsn[600];
		dsn_of(env->rcpts[i].args, dsn, sizeof(dsn));
		n += (size_t)snprintf(r + n, cap - n, "%s\n", env->rcpts[i].addr);
		dn += (size_t)snprintf(d + dn, dcap - dn, "%s\n", dsn);
	}
	r[n] = d[dn] = '\0';
	free(s->rcpts);
	free(s->rcpts_dsn);
	s->rcpts = r;
	s->rcpts_len = n;
	s->rcpts_cap = cap;
	s->rcpts_dsn = d;
	s->rcpts_dsn_len = dn;
	s->rcpts_dsn_cap = dcap;
	s->nrcpts = (int)env->nrcpts;
	strlcpy(s->mail_from, env->sender, sizeof(s->mail_from));
	return 0;
}

/* Apply the edits of milter ST to the message and the envelope. */
static int
apply(struct session *s, const struct step *st, const struct milter_edits *ed,
    struct message *m, const char *msg, size_t len)
{
	struct milter_envelope env;
	char *out = NULL;
	size_t outlen, i;
	int body = 0, rc = -1;

	if (ed->n == 0)
		return 0;
	for (i = 0; i < ed->n; i++)
		body |= ed->v[i].kind <= MILTER_CHGHEADER || ed->v[i].kind == MILTER_REPLBODY;
	if (envelope_get(s, &env) == 0 &&
	    milter_edits_apply(ed, msg, len, &env, &out, &outlen) == 0 &&
	    (!body || write_message(m, out, outlen) == 0) && envelope_put(s, &env) == 0)
		rc = 0;
	if (rc == 0)
		log_info("%s: milter %s: %zu edit%s applied", s->queue_id, st->name, ed->n, ed->n > 1 ? "s" : "");
	free(out);
	milter_envelope_free(&env);
	return rc;
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
	if ((text = read_message(msg, &len)) == NULL) {
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
		if (apply(s, st, &ed, msg, text, len) < 0) {
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

void
milter_step_run(struct session *s, const struct step *st, enum hook_kind kind,
    struct message *msg, struct hook_result *res)
{
	static const struct session *owner;
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
	if (mr.verdict == MILTER_V_PASS && milter_session_reply(m)[0] != '\0') {
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
