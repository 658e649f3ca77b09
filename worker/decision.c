/*
 * decision.c - ask a hook about the session: build its environment from what
 * the session knows (DESIGN.md "Hooks": POSTERN_* and the UCSPI names), run
 * it, and turn a refusal into the SMTP reply of DESIGN.md's exit-status table.
 */
#include "autoconf.h"
#include "session.h"
#include "hook.h"
#include "../common/log.h"

#include <stdio.h>
#include <string.h>

#define RCPTS_ENV_MAX 65536     /* POSTERN_RCPTS is left out above this; fd 3 has all */

void
session_hook_env(struct session *s, enum hook_kind kind, struct hook_env *e)
{
	hook_env_add(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
	hook_env_add(e, "POSTERN_HOOK", hook_name(kind));
	hook_env_add(e, "POSTERN_SESSION", s->id);
	hook_env_add(e, "POSTERN_ENDPOINT", s->ep->name);
	hook_env_add(e, "POSTERN_HOSTNAME", s->cfg->hostname);
	hook_env_add(e, "POSTERN_CLIENT_ADDR", s->client_addr);
	hook_env_addf(e, "POSTERN_CLIENT_PORT", "%u", s->client_port);
	hook_env_add(e, "POSTERN_SERVER_ADDR", s->server_addr);
	hook_env_addf(e, "POSTERN_SERVER_PORT", "%u", s->server_port);
	hook_env_add(e, "POSTERN_TLS", s->tls_info);
	hook_env_add(e, "PROTO", "TCP");
	hook_env_add(e, "TCPREMOTEIP", s->client_addr);
	hook_env_addf(e, "TCPREMOTEPORT", "%u", s->client_port);
	hook_env_add(e, "TCPLOCALIP", s->server_addr);
	hook_env_addf(e, "TCPLOCALPORT", "%u", s->server_port);
	if (s->helo[0] != '\0')
		hook_env_add(e, "POSTERN_HELO", s->helo);
	if (s->auth_user[0] != '\0')
		hook_env_add(e, "POSTERN_AUTH_USER", s->auth_user);
	if (kind == HOOK_AUTH && s->auth_mech[0] != '\0')
		hook_env_add(e, "POSTERN_AUTH_MECHANISM", s->auth_mech);
	if (kind == HOOK_MAIL || s->in_transaction) {
		hook_env_add(e, "POSTERN_MAIL_FROM", s->mail_from);
		if (s->declared_size >= 0)
			hook_env_addf(e, "POSTERN_SIZE", "%lld", s->declared_size);
		hook_env_add(e, "POSTERN_BODY", s->body_8bit ? "8BITMIME" : "7BIT");
	}
	if (kind == HOOK_RCPT)
		hook_env_add(e, "POSTERN_RCPT", s->last_rcpt);
	if (s->in_transaction) {
		hook_env_addf(e, "POSTERN_RCPT_COUNT", "%d", s->nrcpts);
		if (s->rcpts_len < RCPTS_ENV_MAX)
			hook_env_add(e, "POSTERN_RCPTS", s->rcpts != NULL ? s->rcpts : "");
	}
}

void
session_hook(struct session *s, enum hook_kind kind, int stdin_fd,
    const char *fd3, size_t fd3_len, struct hook_result *res)
{
	struct hook_env env;
	struct hook_call call;

	hook_env_init(&env);
	session_hook_env(s, kind, &env);
	memset(&call, 0, sizeof(call));
	call.kind = kind;
	call.cmd = &s->cfg->hooks[kind];
	call.directory = s->cfg->hook_directory;
	call.stdin_fd = stdin_fd;
	call.fd3 = fd3;
	call.fd3_len = fd3_len;
	call.env = &env;
	hook_run(&call, res);
	hook_env_free(&env);
}

void
session_refuse(struct session *s, enum hook_kind kind, const struct hook_result *res)
{
	const char *text;

	if (res->reply[0] != '\0') {
		reply(s, "%s", res->reply);
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
	reply(s, "%s", text);
}

int
session_ask(struct session *s, enum hook_kind kind)
{
	struct hook_result res;

	if (s->cfg->hooks[kind].argv[0] == NULL)
		return 1;
	session_hook(s, kind, -1, NULL, 0, &res);
	if (res.verdict == HOOK_ACCEPT)
		return 1;
	session_refuse(s, kind, &res);
	return 0;
}
