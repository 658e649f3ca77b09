/* SPDX-License-Identifier: ISC */
/*
 * auth.c - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, checked by the auth hook.
 *
 * Credentials cross only under TLS unless the endpoint says insecure_auth;
 * they reach the hook on its stdin ("user\npassword\n", authzid as a third
 * line), never in argv or the environment; every buffer that held them is
 * wiped (explicit_bzero); nothing of them is logged but the user name.
 */
#include "autoconf.h"
#include "auth.h"
#include "session.h"
#include "pipeline.h"
#include "decision.h"
#include "hook.h"
#include "ratelimit.h"
#include "policy.h"
#include "sasl.h"
#include "../common/deadline.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/writeall.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>

#define SASL_LINE_MAX   2048    /* one base64 response line, with CRLF */

enum sasl_read { SASL_OK, SASL_CANCEL, SASL_BAD, SASL_TOOLONG, SASL_GONE };

/* The parts of smtp_auth(), after it: the checks, the SASL dialogue, the
 * verdict. */
static int auth_allowed(struct session *);
static int split_auth(struct session *, const char *, char *, size_t, char *, size_t);
static enum sasl_read sasl_plain(struct session *, const char *, struct sasl_credentials *);
static enum sasl_read sasl_login(struct session *, const char *, struct sasl_credentials *);
static void sasl_refuse(struct session *, enum sasl_read);
static void auth_verdict(struct session *, const char *, const char *, const struct hook_result *);

/* Send a 334 challenge and read the client's base64 answer into OUT. */
static enum sasl_read
challenge(struct session *s, const char *prompt64, char *out, size_t outmax, int *outlen)
{
	char line[SASL_LINE_MAX + 1];
	struct timespec deadline = deadline_in(s->lim->command_timeout);
	size_t len;
	int rc, n;

	smtp_reply(s, 334, NULL, "%s", prompt64);
	rc = netio_getline(s->io, line, SASL_LINE_MAX, &len, &deadline);
	if (rc == NETIO_TOOLONG)
		return SASL_TOOLONG;
	if (rc != NETIO_OK) {
		session_gone(s, rc, NULL, NULL);
		return SASL_GONE;
	}
	if (memchr(line, '\0', len) != NULL) {
		explicit_bzero(line, sizeof(line));
		return SASL_BAD;
	}
	if (strcmp(line, "*") == 0)
		return SASL_CANCEL;
	n = sasl_decode64(line, out, outmax);
	explicit_bzero(line, sizeof(line));
	if (n < 0)
		return n == SASL_DECODE_TOO_LONG ? SASL_TOOLONG : SASL_BAD;
	*outlen = n;
	return SASL_OK;
}

/* Decode an initial response: "=" is an empty one.  Returns as
 * sasl_decode64(). */
static int
initial(const char *ir, char *out, size_t outmax)
{
	if (strcmp(ir, "=") == 0) {
		out[0] = '\0';
		return 0;
	}
	return sasl_decode64(ir, out, outmax);
}

/* A checkpassword program (qmail's interface): "user\0password\0timestamp\0"
 * on fd 3; exit 0 accepted, 1 refused, 111 temporary failure. */
static void
check_checkpassword(struct session *s, const struct step *st, const struct sasl_credentials *cr,
    struct hook_result *res)
{
	char buf[3 * (SASL_FIELD_MAX + 1) + 32];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%c%s%c%lld%c", cr->user, '\0', cr->password, '\0',
	    (long long)time(NULL), '\0');
	session_hook(s, st, HOOK_AUTH, -1, buf, (size_t)n, res);
	explicit_bzero(buf, sizeof(buf));

}

/* A persistent auth hook: request=postern_auth with user= and password=. */
static void
check_policy(struct session *s, const struct step *st, const struct sasl_credentials *cr,
    struct hook_result *res)
{
	char user[SASL_FIELD_MAX + 8], password[SASL_FIELD_MAX + 16], authzid[SASL_FIELD_MAX + 16];
	char *extra[4] = { user, password, NULL, NULL };

	snprintf(user, sizeof(user), "user=%s", cr->user);
	snprintf(password, sizeof(password), "password=%s", cr->password);
	if (cr->authzid[0] != '\0') {
		snprintf(authzid, sizeof(authzid), "authzid=%s", cr->authzid);
		extra[2] = authzid;
	}
	session_policy(s, st, HOOK_AUTH, extra, NULL, res);
	explicit_bzero(password, sizeof(password));
}

/* Ask one auth step: by default its stdin is a pipe holding the
 * credentials. */
static void
check_step(struct session *s, const struct step *st, const struct sasl_credentials *cr,
    struct hook_result *res)
{
	char buf[3 * (SASL_FIELD_MAX + 1) + 1];
	int p[2], n;

	hook_result_init(res);
	if (st->cmd.persistent) {
		check_policy(s, st, cr, res);
		return;
	}
	if (st->legacy && s->cfg->auth_protocol == AUTH_PROTOCOL_CHECKPASSWORD) {
		check_checkpassword(s, st, cr, res);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%s\n%s\n%s%s", cr->user, cr->password,
	    cr->authzid, cr->authzid[0] != '\0' ? "\n" : "");
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_err("auth: pipe: %s", strerror(errno));
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	/* Less than a pipe buffer: the write cannot block. */
	if (write_all(p[1], buf, (size_t)n, NULL) < 0) {
		log_err("auth: cannot pass the credentials to the hook: %s", strerror(errno));
		explicit_bzero(buf, sizeof(buf));
		close(p[0]);
		close(p[1]);
		return;
	}
	explicit_bzero(buf, sizeof(buf));
	close(p[1]);
	session_hook(s, st, HOOK_AUTH, p[0], NULL, 0, res);
	close(p[0]);
}

/* Ask the auth steps in order ([hooks] auth first): the first that does
 * not accept decides (a failure counts as accept only with on_error =
 * accept, and some step must have accepted for real). */
static void
check(struct session *s, const char *mech, const struct sasl_credentials *cr, struct hook_result *res)
{
	const struct step *steps[CONFIG_MAX_STEPS + 1];
	struct timespec t0;
	int n, i, taken = 0;

	hook_result_init(res);
	strlcpy(s->auth_mech, mech, sizeof(s->auth_mech));
	n = session_stage_steps(s, HOOK_AUTH, steps);
	for (i = 0; i < n; i++) {
		if (steps[i]->kind == STEP_MILTER)
			continue;
		t0 = monotonic_now();
		check_step(s, steps[i], cr, res);
		pipeline_count_step(steps[i], HOOK_AUTH, res, &t0);
		if (res->verdict == HOOK_ACCEPT) {
			taken = 1;
			continue;
		}
		if (res->verdict != HOOK_FAILED || !steps[i]->on_error_accept)
			return;
		log_warn("hook %s: failed; on_error = accept: going on without it", steps[i]->name);
	}
	if (!taken)
		hook_result_init(res);
	else
		res->verdict = HOOK_ACCEPT;
}

void
smtp_auth(struct session *s, const char *arg)
{
	char mech[32], ir[SASL_LINE_MAX + 1];
	struct sasl_credentials cr;
	struct hook_result res;
	enum sasl_read r;

	if (!auth_allowed(s) || split_auth(s, arg, mech, sizeof(mech), ir, sizeof(ir)) < 0)
		return;
	memset(&cr, 0, sizeof(cr));
	if (strcasecmp(mech, "PLAIN") == 0) {
		r = sasl_plain(s, ir, &cr);
		snprintf(mech, sizeof(mech), "PLAIN");
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		r = sasl_login(s, ir, &cr);
		snprintf(mech, sizeof(mech), "LOGIN");
	} else {
		explicit_bzero(ir, sizeof(ir));
		smtp_reply(s, 504, "5.5.4", "Error: unrecognized authentication type (PLAIN and LOGIN are offered)");
		return;
	}
	explicit_bzero(ir, sizeof(ir));
	if (r != SASL_OK) {
		sasl_refuse(s, r);
	} else {
		if (sasl_has_ctl(cr.user, strlen(cr.user)) || sasl_has_ctl(cr.password, strlen(cr.password)) ||
		    sasl_has_ctl(cr.authzid, strlen(cr.authzid))) {
			res.verdict = HOOK_REJECT;      /* refused before any hook runs */
			res.reply[0] = '\0';
		} else {
			check(s, mech, &cr, &res);
		}
		auth_verdict(s, mech, cr.user, &res);
	}
	s->auth_mech[0] = '\0';
	explicit_bzero(&cr, sizeof(cr));
}

/* May the client AUTH now?  If not, the reply is queued. */
static int
auth_allowed(struct session *s)
{
	if (s->ep->auth == AUTH_NONE) {
		smtp_reply(s, 503, "5.5.1", "Error: authentication is not enabled here");
		return 0;
	}
	if (!session_greeted(s) || !s->esmtp) {
		smtp_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return 0;
	}
	if (session_authenticated(s)) {
		smtp_reply(s, 503, "5.5.1", "Error: already authenticated");
		return 0;
	}
	if (s->in_transaction) {
		smtp_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return 0;
	}
	if (!session_has_tls(s) && !s->ep->insecure_auth) {
		smtp_reply(s, 538, "5.7.11", "Error: encryption required for requested authentication mechanism");
		return 0;
	}
	return ratelimit_auth(s) == 0;
}

/* "mechanism [initial-response]" into MECH and IR ("" without one). */
static int
split_auth(struct session *s, const char *arg, char *mech, size_t mechlen, char *ir, size_t irlen)
{
	const char *sp = strchr(arg, ' ');
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : strlen(arg);

	if (mlen == 0 || mlen >= mechlen) {
		smtp_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	memcpy(mech, arg, mlen);
	mech[mlen] = '\0';
	ir[0] = '\0';
	if (sp != NULL)
		snprintf(ir, irlen, "%s", sp + 1);
	return 0;
}

/* The initial response IR decoded into OUT, its length in *LEN. */
static enum sasl_read
decode_initial(const char *ir, char *out, size_t outmax, int *len)
{
	int n = initial(ir, out, outmax);

	if (n == SASL_DECODE_MALFORMED)
		return SASL_BAD;
	if (n == SASL_DECODE_TOO_LONG)
		return SASL_TOOLONG;
	*len = n;
	return SASL_OK;
}

/* RFC 4616: one response, "[authzid] NUL authcid NUL passwd". */
static enum sasl_read
sasl_plain(struct session *s, const char *ir, struct sasl_credentials *cr)
{
	char msg[3 * (SASL_FIELD_MAX + 1) + 1];
	enum sasl_read r;
	int len = 0;

	if (ir[0] != '\0')
		r = decode_initial(ir, msg, sizeof(msg), &len);
	else
		r = challenge(s, "", msg, sizeof(msg), &len);
	if (r == SASL_OK && sasl_split_plain(msg, len, cr) < 0)
		r = SASL_BAD;
	explicit_bzero(msg, sizeof(msg));
	return r;
}

/* LOGIN: the user name (maybe as the initial response), then the password. */
static enum sasl_read
sasl_login(struct session *s, const char *ir, struct sasl_credentials *cr)
{
	enum sasl_read r;
	int len = 0;

	if (ir[0] != '\0')
		r = decode_initial(ir, cr->user, sizeof(cr->user), &len);
	else
		r = challenge(s, "VXNlcm5hbWU6", cr->user, sizeof(cr->user), &len);   /* Username: */
	if (r == SASL_OK && (len == 0 || sasl_has_ctl(cr->user, (size_t)len)))
		r = SASL_BAD;
	if (r == SASL_OK)
		r = challenge(s, "UGFzc3dvcmQ6", cr->password, sizeof(cr->password), &len);  /* Password: */
	if (r == SASL_OK && sasl_has_ctl(cr->password, (size_t)len))
		r = SASL_BAD;
	return r;
}

/* The reply for an exchange that did not give credentials. */
static void
sasl_refuse(struct session *s, enum sasl_read r)
{
	switch (r) {
	case SASL_OK:
		fatalx("sasl_refuse of a good exchange");
	case SASL_CANCEL:
		smtp_reply(s, 501, "5.0.0", "Error: authentication cancelled");
		break;
	case SASL_TOOLONG:
		smtp_reply(s, 500, "5.5.6", "Error: authentication exchange line is too long");
		break;
	case SASL_GONE:
		s->quit = 1;
		break;
	case SASL_BAD:
		smtp_reply(s, 501, "5.5.2", "Error: cannot decode the authentication response");
		break;
	}
}

/* USER for a log line: escaped by log_sanitize (spaces and brackets too),
 * so that a user name cannot forge the "from [ADDRESS]" that fail2ban reads. */
static void
log_user(char *out, size_t outlen, const char *user)
{
	log_sanitize(out, outlen, user, strlen(user));
}

/* The auth hook's answer RES for USER: log it, reply, count failures. */
static void
auth_verdict(struct session *s, const char *mech, const char *username, const struct hook_result *res)
{
	char user[SASL_FIELD_MAX * 4 + 1];

	log_user(user, sizeof(user), username);
	if (metrics_shared != NULL && res->verdict != HOOK_TEMPFAIL && res->verdict != HOOK_FAILED)
		metrics_add(metrics_shared, &metrics_shared->auth[res->verdict == HOOK_ACCEPT ?
		    AUTH_OK : AUTH_FAILED], 1);
	if (res->verdict == HOOK_ACCEPT) {
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", username);
		strlcpy(s->auth_method, mech, sizeof(s->auth_method));
		log_info("auth: user=%s mechanism=%s result=ok", user, mech);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
	} else if (res->verdict == HOOK_REJECT) {
		s->auth_failures++;
		ratelimit_auth_failed(s);
		/* fail2ban: "authentication failed for user=... from [ADDR]" */
		log_warn("auth: authentication failed for user=%s from [%s] mechanism=%s",
		    user, s->client_addr, mech);
		if (res->reply[0] == '5')
			reply(s, "%s", res->reply);
		else
			smtp_reply(s, 535, "5.7.8", "Error: authentication credentials invalid");
		if (s->auth_failures >= s->lim->max_auth_attempts) {
			log_warn("auth: too many failures (%d) from [%s]: disconnecting",
			    s->auth_failures, s->client_addr);
			session_close_421(s, "too many authentication failures");
		}
	} else {
		log_warn("auth: temporary failure for user=%s from [%s] (auth hook %s)", user,
		    s->client_addr, res->timed_out ? "timed out" : "failed");
		if (res->verdict == HOOK_TEMPFAIL && res->reply[0] == '4')
			reply(s, "%s", res->reply);
		else
			smtp_reply(s, 454, "4.7.0", "Error: temporary authentication failure, try again later");
	}
}
