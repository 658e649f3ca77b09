/* SPDX-License-Identifier: ISC */
/*
 * policy_request.c - the Postfix policy delegation request that a
 * persistent hook gets (postfix.org/SMTPD_POLICY_README.html): Postfix's
 * attribute names so that existing policy servers work, then Postern's own
 * POSTERN_* values lower-cased, written as "name=value" lines into one
 * buffer; policy.c sends it and reads the answer.
 */
#include "autoconf.h"
#include "session.h"
#include "decision.h"
#include "hook.h"
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Request mode: "name=value\n" appended to the buffer. */
static void
request_add(struct hook_env *e, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), i;
	int upper = name[0] >= 'A' && name[0] <= 'Z';

	if (upper && strncmp(name, "POSTERN_", 8) != 0)
		return;         /* PATH, PROTO, TCP*: environment only */
	if (memchr(value, '\n', vl) != NULL)
		return;         /* lists go as repeated attributes */
	if (e->reqlen + nl + vl + 3 > e->reqcap) {
		size_t cap = e->reqcap ? e->reqcap * 2 : 4096;
		char *p;
		while (cap < e->reqlen + nl + vl + 3)
			cap *= 2;
		if ((p = realloc(e->req, cap)) == NULL)
			return;
		e->req = p;
		e->reqcap = cap;
	}
	for (i = 0; i < nl; i++)
		e->req[e->reqlen++] = upper ? (char)tolower((unsigned char)name[i]) : name[i];
	e->req[e->reqlen++] = '=';
	memcpy(e->req + e->reqlen, value, vl);
	e->reqlen += vl;
	e->req[e->reqlen++] = '\n';
	e->req[e->reqlen] = '\0';
}

void
policy_request_init(struct hook_env *e)
{
	hook_env_init(e);
	e->add_request = request_add;
}

/*
 * The Postfix policy request for a persistent hook: Postfix's attribute
 * names (so existing policy servers work), then every POSTERN_* value
 * lower-cased.  EXTRA are added as they are (postern_auth's user/password).
 */
static void
policy_attrs(struct session *s, const struct step *st, enum hook_kind kind, struct hook_env *a,
    char *const extra[], long long body_len)
{
	static const char *const states[HOOK_COUNT] = {
		"CONNECT", "EHLO", "AUTH", "MAIL", "RCPT", "END-OF-MESSAGE"
	};
	size_t i;

	if (kind == HOOK_AUTH)
		hook_env_add(a, "request", "postern_auth");
	else if (kind == HOOK_DATA)
		hook_env_add(a, "request", "postern_data");
	else
		hook_env_add(a, "request", "smtpd_access_policy");
	/* Postfix: HELO or EHLO as the client said it */
	hook_env_add(a, "protocol_state", kind == HOOK_HELO && !s->esmtp ? "HELO" : states[kind]);
	hook_env_add(a, "protocol_name", s->ep->protocol == PROTO_LMTP ? "LMTP" : s->esmtp ? "ESMTP" : "SMTP");
	hook_env_add(a, "helo_name", s->helo);
	hook_env_addf(a, "queue_id", "%s.%d", s->id, s->nmessages + 1);
	hook_env_add(a, "sender", s->in_transaction ? s->mail_from : "");
	hook_env_add(a, "recipient", kind == HOOK_RCPT ? s->last_rcpt : "");
	hook_env_addf(a, "recipient_count", "%d", s->nrcpts);
	hook_env_add(a, "client_address", s->client_addr);
	hook_env_add(a, "client_name", s->dns.client_name);
	hook_env_add(a, "reverse_client_name", s->dns.reverse_client_name);
	hook_env_addf(a, "client_port", "%u", s->client_port);
	hook_env_add(a, "server_address", s->server_addr);
	hook_env_addf(a, "server_port", "%u", s->server_port);
	hook_env_addf(a, "instance", "%s.%d", s->id, s->nmessages + 1);
	hook_env_add(a, "sasl_method", s->auth_method);
	hook_env_add(a, "sasl_username", s->auth_user);
	hook_env_add(a, "sasl_sender", "");
	if (kind == HOOK_DATA)
		hook_env_addf(a, "size", "%lld", body_len);
	else if (s->in_transaction && s->declared_size >= 0)
		hook_env_addf(a, "size", "%lld", s->declared_size);
	else
		hook_env_add(a, "size", "0");
	{
		char proto[64] = "", cipher[96] = "";
		sscanf(s->tls_info, "%63s %95s", proto, cipher);
		hook_env_add(a, "encryption_protocol", proto);
		hook_env_add(a, "encryption_cipher", cipher);
		hook_env_add(a, "encryption_keysize", "");
	}
	/* Postfix's meaning: CNs of a verified certificate, the fingerprint of any */
	hook_env_add(a, "ccert_subject", s->tls_peer.verified ? s->tls_peer.subject_cn : "");
	hook_env_add(a, "ccert_issuer", s->tls_peer.verified ? s->tls_peer.issuer_cn : "");
	hook_env_add(a, "ccert_fingerprint", s->tls_peer.fingerprint);
	hook_env_add(a, "etrn_domain", "");
	hook_env_add(a, "stress", s->stress ? "yes" : "");
	hook_env_add(a, "policy_context", "");
	/* and the POSTERN_* values, lower-cased (request mode does that) */
	session_hook_env(s, st, kind, a);
	if (s->in_transaction && s->rcpts != NULL) {
		/* one attribute per recipient: postern_rcpt_list=addr */
		const char *p = s->rcpts;
		while (*p != '\0') {
			size_t l = strcspn(p, "\n");
			hook_env_addf(a, "postern_rcpt_list", "%.*s", (int)l, p);
			p += l + (p[l] == '\n');
		}
	}
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		char *eq = strchr(extra[i], '=');
		char name[32];
		if (eq == NULL || (size_t)(eq - extra[i]) >= sizeof(name))
			continue;
		memcpy(name, extra[i], (size_t)(eq - extra[i]));
		name[eq - extra[i]] = '\0';
		hook_env_add(a, name, eq + 1);
	}
}

void
policy_request_build(struct session *s, const struct step *st, enum hook_kind kind,
    char *const extra[], long long body_len, struct hook_env *req)
{
	policy_request_init(req);
	policy_attrs(s, st, kind, req, extra, body_len);
}

void
session_policy(struct session *s, const struct step *st, enum hook_kind kind, char *const extra[],
    int body_fd, long long body_len, struct hook_result *res)
{
	struct hook_env req;

	policy_request_build(s, st, kind, extra, body_len, &req);
	policy_ask(s->cfg, st, kind, req.req != NULL ? req.req : "", req.reqlen, body_fd, body_len, res);
	hook_env_free(&req);
}
