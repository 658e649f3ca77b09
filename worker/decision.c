/* SPDX-License-Identifier: ISC */
/*
 * decision.c - ask one step about the session: build its environment from
 * what the session knows (DESIGN.md "Hooks": POSTERN_* and the UCSPI
 * names) or its policy request, run it, and turn a refusal into the SMTP
 * reply of DESIGN.md's exit-status table.  pipeline.c decides which steps
 * are asked.
 */
#include "autoconf.h"
#include "decision.h"
#include "session.h"
#include "milter_step.h"
#include "hook.h"
#include "policy.h"
#include "esmtp_ext.h"
#include "../common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define RCPTS_ENV_MAX 65536     /* POSTERN_RCPTS is left out above this; fd 3 has all */

void
session_hook_env(struct session *s, const struct step *st, enum hook_kind kind, struct hook_env *e)
{
	hook_env_add(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
	hook_env_add(e, "POSTERN_HOOK", hook_name(kind));
	hook_env_add(e, "POSTERN_STEP", st->name);
	hook_env_add(e, "POSTERN_SESSION", s->id);
	hook_env_add(e, "POSTERN_ENDPOINT", s->ep->name);
	hook_env_add(e, "POSTERN_HOSTNAME", s->cfg->hostname);
	hook_env_add(e, "POSTERN_CLIENT_ADDR", s->client_addr);
	hook_env_add_num(e, "POSTERN_CLIENT_PORT", s->client_port);
	hook_env_add(e, "POSTERN_CLIENT_NAME", s->dns.client_name);
	hook_env_add(e, "POSTERN_REVERSE_CLIENT_NAME", s->dns.reverse_client_name);
	if (fcrdns_looked_up(&s->dns))
		hook_env_add(e, "POSTERN_CLIENT_RESOLVE", s->dns.resolve);
	hook_env_add(e, "POSTERN_SERVER_ADDR", s->server_addr);
	hook_env_add_num(e, "POSTERN_SERVER_PORT", s->server_port);
	hook_env_add(e, "POSTERN_TLS", s->tls_info);
	tls_peer_env(&s->tls_peer, e);
	hook_env_add(e, "PROTO", "TCP");
	hook_env_add(e, "TCPREMOTEIP", s->client_addr);
	hook_env_add_num(e, "TCPREMOTEPORT", s->client_port);
	hook_env_add(e, "TCPLOCALIP", s->server_addr);
	hook_env_add_num(e, "TCPLOCALPORT", s->server_port);
	if (session_greeted(s))
		hook_env_add(e, "POSTERN_HELO", s->helo);
	if (session_authenticated(s))
		hook_env_add(e, "POSTERN_AUTH_USER", s->auth_user);
	if (kind == HOOK_AUTH)
		hook_env_add_given(e, "POSTERN_AUTH_MECHANISM", s->auth_mech);
	if (kind == HOOK_MAIL || s->in_transaction) {
		hook_env_add(e, "POSTERN_MAIL_FROM", s->mail_from);
		if (s->declared_size >= 0)
			hook_env_add_num(e, "POSTERN_SIZE", s->declared_size);
		hook_env_add(e, "POSTERN_BODY", s->body == BODY_8BITMIME ? "8BITMIME" :
		    s->body == BODY_BINARYMIME ? "BINARYMIME" : "7BIT");
		if (s->smtputf8)
			hook_env_add(e, "POSTERN_SMTPUTF8", "1");
		hook_env_add_given(e, "POSTERN_DSN_RET", s->dsn_ret);
		hook_env_add_given(e, "POSTERN_DSN_ENVID", s->dsn_envid);
		esmtp_ext_env(s, e);
	}
	if (kind == HOOK_RCPT) {
		hook_env_add_given(e, "POSTERN_DSN_NOTIFY", s->rcpt_dsn.notify);
		hook_env_add_given(e, "POSTERN_DSN_ORCPT", s->rcpt_dsn.orcpt);
	}
	if (kind == HOOK_RCPT)
		hook_env_add(e, "POSTERN_RCPT", s->last_rcpt);
	if (kind == HOOK_DATA)
		hook_env_add_given(e, "POSTERN_QUARANTINE", milter_step_quarantine());
	if (s->in_transaction) {
		hook_env_add_num(e, "POSTERN_RCPT_COUNT", s->nrcpts);
		if (s->rcpts_len < RCPTS_ENV_MAX) {
			hook_env_add(e, "POSTERN_RCPTS", s->rcpts != NULL ? s->rcpts : "");
			hook_env_add(e, "POSTERN_RCPTS_DSN", s->rcpts_dsn != NULL ? s->rcpts_dsn : "");
		}
	}
}

void
session_hook(struct session *s, const struct step *st, enum hook_kind kind, int stdin_fd,
    const char *fd3, size_t fd3_len, struct hook_result *res)
{
	struct hook_env env;
	struct hook_call call;

	if (st->cmd.persistent) {
		session_policy(s, st, kind, NULL, NULL, res);   /* data stage: pipeline.c */
		return;
	}
	hook_env_init(&env);
	session_hook_env(s, st, kind, &env);
	memset(&call, 0, sizeof(call));
	call.kind = kind;
	call.name = st->name;
	call.cmd = &st->cmd;
	call.directory = s->cfg->hook_directory;
	call.stdin_fd = stdin_fd;
	call.fd3 = fd3;
	call.fd3_len = fd3_len;
	call.env = &env;
	call.checkpassword = kind == HOOK_AUTH && st->legacy &&
	    s->cfg->auth_protocol == AUTH_PROTOCOL_CHECKPASSWORD;
	hook_run(&call, res);
	hook_env_free(&env);
}

void
session_refusal_text(enum hook_kind kind, const struct hook_result *res, char *out, size_t outlen)
{
	const char *text;

	if (hook_result_has_reply(res)) {
		/* a greeting can only be 554 or 421 (RFC 5321 3.1): keep the
		 * hook's text, fix the code */
		if (kind == HOOK_CONNECT)
			snprintf(out, outlen, "%s%s", res->reply[0] == '5' ? "554" : "421", res->reply + 3);
		else
			strlcpy(out, res->reply, outlen);
		return;
	}
	switch (res->verdict) {
	case HOOK_REJECT:
		switch (res->exit_status) {
		case 67: text = "550 5.1.1 Error: no such user"; break;
		case 68: text = "550 5.1.2 Error: no such domain"; break;
		default: text = "550 5.7.1 Error: rejected by policy"; break;
		}
		break;
	case HOOK_TEMPFAIL:
		text = "451 4.3.0 Error: temporary failure, try again later";
		break;
	default:
		text = res->timed_out ? "451 4.4.1 Error: timeout while checking, try again later" :
		    "451 4.3.0 Error: temporary failure, try again later";
		break;
	}
	if (kind == HOOK_CONNECT)       /* greeting replies: 554 or 421 (RFC 5321 3.1) */
		text = res->verdict == HOOK_REJECT ? "554 5.7.1 Error: no SMTP service for you here" :
		    "421 4.3.0 Error: service not available, try again later";
	strlcpy(out, text, outlen);
}

void
session_refuse(struct session *s, enum hook_kind kind, const struct hook_result *res)
{
	char text[sizeof(res->reply) + 8];

	session_refusal_text(kind, res, text, sizeof(text));
	reply(s, "%s", text);
}
