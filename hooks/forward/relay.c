/* SPDX-License-Identifier: ISC */
/*
 * relay.c - the downstream session and transaction of postern-forward.
 *
 * The connection is opened at the first MAIL and kept: the next transaction
 * starts with RSET on it when the last one was left open, and a connection
 * that the server closed meanwhile is replaced, once, at once.  Every
 * refusal from downstream is passed on with its own code and enhanced code;
 * a server that cannot be reached, stalls or answers nonsense is a 451.
 */
#include "relay.h"
#include "../xtext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
fwd_answer(struct answer *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->action, sizeof(a->action), fmt, ap);
	va_end(ap);
}

/* The downstream's refusal as posternd's "NNN X.Y.Z text" action. */
void
fwd_answer_reply(struct answer *a, const struct reply *r)
{
	if (r->code < 400) {
		fwd_answer(a, "OK");
		return;
	}
	/* 421 closes the downstream's session, not the client's: 451 */
	fwd_answer(a, "%d %s %s", r->code == 421 ? 451 : r->code, r->enhanced[0] != '\0' ?
	    r->enhanced : r->code >= 500 ? "5.0.0" : "4.0.0", r->text[0] != '\0' ? r->text :
	    "(the downstream server gave no text)");
}

/* A failure of the connection: 451, the connection dropped. */
static int
failed(struct fwd *f, struct answer *a, int rc, const char *doing)
{
	fwd_answer(a, "451 %s downstream %s: %s %s",
	    rc == CONN_GARBAGE ? "4.5.0" : rc == CONN_TIMEOUT ? "4.4.1" : "4.4.2",
	    f->o.target, doing, f->c.why);
	fprintf(stderr, "postern-forward: %s: %s: %s\n", f->o.target, doing, f->c.why);
	fwd_drop(f);
	return -1;
}

static void
clear_rcpts(struct fwd *f)
{
	size_t i;

	for (i = 0; i < f->nrcpts; i++) {
		free(f->rcpts[i].addr);
		free(f->rcpts[i].params);
	}
	f->nrcpts = 0;
}

void
fwd_drop(struct fwd *f)
{
	conn_close(&f->c);
	f->open = 0;
	f->xclient_sent[0] = '\0';
	clear_rcpts(f);
}

void
fwd_quit(struct fwd *f)
{
	struct reply r;

	if (f->c.fd >= 0 && conn_command(&f->c, 2, "QUIT") == CONN_OK)
		(void)conn_reply(&f->c, &r, 2);
	fwd_drop(f);
}

/* Leave any transaction: RSET on an open one. */
void
fwd_reset(struct fwd *f)
{
	struct reply r;

	if (f->open && f->c.fd >= 0 && (conn_command(&f->c, f->o.timeout, "RSET") != CONN_OK ||
	    conn_reply(&f->c, &r, f->o.timeout) != CONN_OK || r.code != 250))
		fwd_drop(f);
	f->open = 0;
	clear_rcpts(f);
}

static int
ehlo(struct fwd *f, struct answer *a)
{
	struct reply r;
	int rc;

	if ((rc = conn_command(&f->c, f->o.timeout, "%s %s", f->o.lmtp ? "LHLO" : "EHLO",
	    f->o.helo)) != CONN_OK || (rc = conn_reply(&f->c, &r, f->o.timeout)) != CONN_OK)
		return failed(f, a, rc, f->o.lmtp ? "LHLO" : "EHLO");
	if (r.code != 250) {
		fwd_answer(a, "451 4.4.0 downstream %s refused %s: %d %s", f->o.target,
		    f->o.lmtp ? "LHLO" : "EHLO", r.code, r.text);
		fwd_drop(f);
		return -1;
	}
	f->caps = r.caps;
	return 0;
}

static int
starttls(struct fwd *f, struct answer *a)
{
	struct reply r;
	int rc;

	if (!(f->caps & CAP_STARTTLS)) {
		if (f->o.tls == TLS_TRY)
			return 0;
		fwd_answer(a, "451 4.7.10 downstream %s does not offer STARTTLS, which --tls=require needs",
		    f->o.target);
		fwd_drop(f);
		return -1;
	}
	if ((rc = conn_command(&f->c, f->o.timeout, "STARTTLS")) != CONN_OK ||
	    (rc = conn_reply(&f->c, &r, f->o.timeout)) != CONN_OK)
		return failed(f, a, rc, "STARTTLS");
	if (r.code != 220) {
		fwd_answer(a, "451 4.7.5 downstream %s refused STARTTLS: %d %s", f->o.target,
		    r.code, r.text);
		fwd_drop(f);
		return -1;
	}
	if ((rc = conn_starttls(&f->c, f->cred, f->o.tls_name, f->o.tls_verify,
	    f->o.timeout)) != CONN_OK) {
		fwd_answer(a, "451 4.7.5 downstream %s: TLS failed: %s", f->o.target, f->c.why);
		fprintf(stderr, "postern-forward: %s: TLS failed: %s\n", f->o.target, f->c.why);
		fwd_drop(f);
		return -1;
	}
	return ehlo(f, a);
}

/* Connect, greeting, EHLO/LHLO and STARTTLS, unless a live connection is
 * there already. */
static int
session_open(struct fwd *f, struct answer *a)
{
	struct reply r;
	int rc;

	if (f->c.fd >= 0 && !conn_gone(&f->c))
		return 0;
	fwd_drop(f);
	if ((rc = conn_open(&f->c, f->o.target, f->o.timeout)) != CONN_OK ||
	    (rc = conn_reply(&f->c, &r, f->o.timeout)) != CONN_OK)
		return failed(f, a, rc, "connect");
	if (r.code != 220) {
		if (r.code >= 400)
			fwd_answer(a, "451 4.4.0 downstream %s is not taking mail: %d %s",
			    f->o.target, r.code, r.text);
		else
			fwd_answer(a, "451 4.5.0 downstream %s: greeting %d", f->o.target, r.code);
		fwd_drop(f);
		return -1;
	}
	if (ehlo(f, a) < 0)
		return -1;
	if (f->o.tls != TLS_NO && !f->tls_failed && starttls(f, a) < 0) {
		if (f->o.tls == TLS_REQUIRE)
			return -1;
		/* --tls=try: once more in plaintext, as Postfix's "may" does */
		f->tls_failed = 1;
		rc = session_open(f, a);
		f->tls_failed = 0;
		return rc;
	}
	return 0;
}

/* XCLIENT (Postfix) with the original client, when it changed. */
static int
xclient(struct fwd *f, const struct preq *q, struct answer *a)
{
	char addr[200], helo[600], login[600], key[512], port[16];
	const char *ca = preq_get(q, "client_address");
	struct reply r;
	int rc;

	if (!f->o.xclient || !(f->caps & CAP_XCLIENT))
		return 0;
	snprintf(key, sizeof(key), "%s|%s|%s|%s", ca, preq_get(q, "client_port"),
	    preq_get(q, "helo_name"), preq_get(q, "sasl_username"));
	if (strcmp(key, f->xclient_sent) == 0)
		return 0;
	snprintf(addr, sizeof(addr), "%s%s", strchr(ca, ':') != NULL ? "IPV6:" : "", ca);
	if (ca[0] == '\0' || xtext_encode(addr, NULL, addr, sizeof(addr)) < 0)
		strcpy(addr, "[UNAVAILABLE]");
	if (!preq_has(q, "helo_name") ||
	    xtext_encode(preq_get(q, "helo_name"), NULL, helo, sizeof(helo)) < 0)
		strcpy(helo, "[UNAVAILABLE]");
	if (!preq_has(q, "sasl_username") ||
	    xtext_encode(preq_get(q, "sasl_username"), NULL, login, sizeof(login)) < 0)
		strcpy(login, "[UNAVAILABLE]");
	snprintf(port, sizeof(port), "%.5s", preq_get(q, "client_port"));
	if (strspn(port, "0123456789") != strlen(port) || port[0] == '\0')
		strcpy(port, "[UNAVAILABLE]");
	if ((rc = conn_command(&f->c, f->o.timeout,
	    "XCLIENT ADDR=%s PORT=%s NAME=[UNAVAILABLE] HELO=%s LOGIN=%s PROTO=ESMTP",
	    addr, port, helo, login)) != CONN_OK || (rc = conn_reply(&f->c, &r, f->o.timeout)) != CONN_OK)
		return failed(f, a, rc, "XCLIENT");
	if (r.code != 220) {
		fprintf(stderr, "postern-forward: %s refused XCLIENT (%d %s): going on without it "
		    "(add this host to its smtpd_authorized_xclient_hosts)\n", f->o.target, r.code, r.text);
		strlcpy(f->xclient_sent, key, sizeof(f->xclient_sent));
		return 0;
	}
	strlcpy(f->xclient_sent, key, sizeof(f->xclient_sent));
	return ehlo(f, a);
}

/* Append one parameter; the buffer is big enough for any legal set. */
static void
add_param(char *out, size_t outlen, const char *fmt, ...)
{
	size_t len = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + len, outlen - len, fmt, ap);
	va_end(ap);
}

/* The MAIL FROM parameters, or a refusal when the downstream cannot honour
 * what the client asked for. */
static int
mail_params(struct fwd *f, const struct preq *q, char *out, size_t outlen, struct answer *a)
{
	const char *body = preq_get(q, "postern_body"), *v;
	out[0] = '\0';
	if ((f->caps & CAP_SIZE) && (v = preq_get(q, "postern_size"))[0] != '\0')
		add_param(out, outlen, " SIZE=%.20s", v);
	if (strcasecmp(body, "8BITMIME") == 0) {
		if (!(f->caps & CAP_8BITMIME)) {
			fwd_answer(a, "550 5.6.3 downstream %s does not take 8-bit mail (no 8BITMIME)", f->o.target);
			return -1;
		}
		add_param(out, outlen, " BODY=8BITMIME");
	} else if (strcasecmp(body, "BINARYMIME") == 0) {
		if ((f->caps & (CAP_BINARYMIME | CAP_CHUNKING)) != (CAP_BINARYMIME | CAP_CHUNKING)) {
			fwd_answer(a, "550 5.6.3 downstream %s does not take binary mail (no BINARYMIME and CHUNKING)",
			    f->o.target);
			return -1;
		}
		add_param(out, outlen, " BODY=BINARYMIME");
	}
	if (strcmp(preq_get(q, "postern_smtputf8"), "1") == 0) {
		if (!(f->caps & CAP_SMTPUTF8)) {
			fwd_answer(a, "553 5.6.7 downstream %s does not take internationalized mail (no SMTPUTF8)",
			    f->o.target);
			return -1;
		}
		add_param(out, outlen, " SMTPUTF8");
	}
	if (f->caps & CAP_DSN) {
		if ((v = preq_get(q, "postern_dsn_ret"))[0] != '\0')
			add_param(out, outlen, " RET=%.10s", v);
		if ((v = preq_get(q, "postern_dsn_envid"))[0] != '\0')
			add_param(out, outlen, " ENVID=%.200s", v);
	}
	if (strcmp(preq_get(q, "postern_requiretls"), "1") == 0 && !f->o.lmtp) {
		if (f->c.tls == NULL || !f->o.tls_verify || !(f->caps & CAP_REQUIRETLS)) {
			fwd_answer(a, "550 5.7.30 REQUIRETLS support required: downstream %s %s", f->o.target,
			    f->c.tls == NULL ? "is not on TLS" : !f->o.tls_verify ?
			    "is not verified (no --tls-ca)" : "does not offer REQUIRETLS");
			return -1;
		}
		add_param(out, outlen, " REQUIRETLS");
	}
	if ((f->caps & CAP_MT_PRIORITY) && (v = preq_get(q, "postern_mt_priority"))[0] != '\0')
		add_param(out, outlen, " MT-PRIORITY=%.3s", v);
	return 0;
}

/* MAIL on a session that is open; one retry on a fresh connection when a
 * kept one turns out to be dead. */
static int
open_transaction(struct fwd *f, const struct preq *q, struct answer *a)
{
	char params[1024];
	struct reply r;
	int attempt, rc = CONN_OK, reused;

	fwd_reset(f);
	strlcpy(f->instance, preq_get(q, "instance"), sizeof(f->instance));
	for (attempt = 0; attempt < 2; attempt++) {
		reused = f->c.fd >= 0;
		if (session_open(f, a) < 0 || xclient(f, q, a) < 0)
			return -1;
		if (mail_params(f, q, params, sizeof(params), a) < 0) {
			if (!fwd_answered(a))
				fwd_answer(a, "451 4.3.0 MAIL FROM parameters too long");
			return -1;
		}
		if ((rc = conn_command(&f->c, f->o.timeout, "MAIL FROM:<%s>%s", preq_get(q, "sender"),
		    params)) == CONN_OK && (rc = conn_reply(&f->c, &r, f->o.timeout)) == CONN_OK)
			break;
		if (!reused || rc == CONN_TIMEOUT)
			return failed(f, a, rc, "MAIL FROM");
		fwd_drop(f);    /* closed while kept: once more, new connection */
	}
	if (rc != CONN_OK)
		return failed(f, a, rc, "MAIL FROM");
	fwd_answer_reply(a, &r);
	f->open = r.code >= 200 && r.code < 300;
	if (r.code == 421)
		fwd_drop(f);
	return f->open ? 0 : -1;
}

static int
add_rcpt(struct fwd *f, const char *addr, const char *params)
{
	if (f->nrcpts == f->rcap) {
		size_t cap = f->rcap ? f->rcap * 2 : 16;
		struct fwd_rcpt *n = realloc(f->rcpts, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		f->rcpts = n;
		f->rcap = cap;
	}
	f->rcpts[f->nrcpts].addr = strdup(addr);
	f->rcpts[f->nrcpts].params = strdup(params);
	if (f->rcpts[f->nrcpts].addr == NULL || f->rcpts[f->nrcpts].params == NULL) {
		free(f->rcpts[f->nrcpts].addr);
		free(f->rcpts[f->nrcpts].params);
		return -1;
	}
	f->nrcpts++;
	return 0;
}

/* One RCPT TO; the downstream's reply in A.  -1 only for a broken
 * connection (A says so, the transaction is gone). */
static int
send_rcpt(struct fwd *f, const char *addr, const char *params, struct answer *a, int *code)
{
	struct reply r;
	int rc;

	if ((rc = conn_command(&f->c, f->o.timeout, "RCPT TO:<%s>%s", addr, params)) != CONN_OK ||
	    (rc = conn_reply(&f->c, &r, f->o.timeout)) != CONN_OK)
		return failed(f, a, rc, "RCPT TO");
	fwd_answer_reply(a, &r);
	*code = r.code;
	if (r.code == 421)
		fwd_drop(f);
	if (r.code >= 200 && r.code < 300 && add_rcpt(f, addr, params) < 0) {
		fwd_answer(a, "451 4.3.0 out of memory");
		*code = 451;
	}
	return 0;
}

int
fwd_mail(struct fwd *f, const struct preq *q, struct answer *a)
{
	return open_transaction(f, q, a);
}

/* Rebuild the transaction: MAIL, then the request's earlier recipients
 * (with the parameters they had, when this process saw them). */
static int
rebuild(struct fwd *f, const struct preq *q, struct answer *a)
{
	struct fwd_rcpt *old = f->rcpts;
	size_t nold = f->nrcpts, i;
	const char *it = NULL, *addr;
	int code, rc = 0;

	f->rcpts = NULL;
	f->nrcpts = f->rcap = 0;
	if (open_transaction(f, q, a) < 0)
		rc = -1;
	while (rc == 0 && (addr = preq_next(q, "postern_rcpt_list", &it)) != NULL) {
		const char *params = "";
		for (i = 0; i < nold; i++)
			if (strcmp(old[i].addr, addr) == 0)
				params = old[i].params;
		if (send_rcpt(f, addr, params, a, &code) < 0)
			rc = -1;
		else if (code >= 300) {
			/* taken before, refused now: the client must try again */
			fwd_answer(a, "451 4.3.0 downstream %s no longer takes <%.200s>", f->o.target, addr);
			fwd_reset(f);
			rc = -1;
		}
	}
	for (i = 0; i < nold; i++) {
		free(old[i].addr);
		free(old[i].params);
	}
	free(old);
	return rc;
}

int
fwd_rcpt(struct fwd *f, const struct preq *q, struct answer *a)
{
	char params[700];
	const char *v;
	int code, attempt;

	params[0] = '\0';
	if (f->caps & CAP_DSN) {
		if ((v = preq_get(q, "postern_dsn_notify"))[0] != '\0')
			snprintf(params, sizeof(params), " NOTIFY=%.100s", v);
		if ((v = preq_get(q, "postern_dsn_orcpt"))[0] != '\0')
			snprintf(params + strlen(params), sizeof(params) - strlen(params), " ORCPT=%.500s", v);
	}
	for (attempt = 0; attempt < 2; attempt++) {
		int fresh = !f->open || strcmp(f->instance, preq_get(q, "instance")) != 0 || conn_gone(&f->c);
		if (fresh && rebuild(f, q, a) < 0)
			return -1;
		if (send_rcpt(f, preq_get(q, "recipient"), params, a, &code) == 0)
			return code < 300 ? 0 : -1;
		if (fresh)
			return -1;
	}
	return -1;
}

/* Same recipients in the request and downstream?  (Another step may have
 * refused one that the downstream took, or this process may be new.) */
int
fwd_sync(struct fwd *f, const struct preq *q, struct answer *a)
{
	const char *it = NULL, *addr;
	size_t n = 0, i;
	int same = f->open && strcmp(f->instance, preq_get(q, "instance")) == 0 && !conn_gone(&f->c);

	while (same && (addr = preq_next(q, "postern_rcpt_list", &it)) != NULL) {
		for (i = 0; i < f->nrcpts && strcmp(f->rcpts[i].addr, addr) != 0; i++)
			;
		same = i < f->nrcpts;
		n++;
	}
	if (same && n == f->nrcpts)
		return 0;
	if (rebuild(f, q, a) < 0)
		return -1;
	if (f->nrcpts == 0) {
		fwd_answer(a, "451 4.3.0 no recipients to forward");
		return -1;
	}
	return 0;
}
