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
#include "message.h"
#include "../common/growbuf.h"

#include <stdlib.h>
#include <string.h>

/* Room for N more octets in the request (and its NUL).  0, or -1. */
static int
request_room(struct hook_env *e, size_t n)
{
	return growbuf_reserve(&e->req, &e->reqcap, e->reqlen + n + 1, 4096);
}

/* Is NAME (NL octets, lower case) one of ONLY (" a b c ")?  The
 * attributes the protocol needs are always sent. */
static int
wanted(const char *only, const char *name, size_t nl)
{
	const char *p, *end;

	switch (nl) {
	case 4: if (memcmp(name, "size", 4) == 0) return 1; break;
	case 7: if (memcmp(name, "request", 7) == 0) return 1; break;
	case 8: if (memcmp(name, "instance", 8) == 0) return 1; break;
	case 14: if (memcmp(name, "protocol_state", 14) == 0) return 1; break;
	}
	end = only + strlen(only);
	for (p = only; nl > 0 && (p = memchr(p, name[0], (size_t)(end - p))) != NULL; p++)
		if (p > only && p[-1] == ' ' && (size_t)(end - p) > nl && memcmp(p, name, nl) == 0 &&
		    p[nl] == ' ')
			return 1;
	return 0;
}

/*
 * Request mode: "name=value\n" appended to the buffer, by hand (this runs
 * some fifty times for every message).  POSTERN_* names are lower-cased:
 * the prefix is a constant, the rest of the name is ASCII upper case,
 * digits and '_'.
 */
static void
request_add(struct hook_env *e, const char *name, size_t nl, const char *value, size_t vl)
{
	int upper = name[0] >= 'A' && name[0] <= 'Z';
	char *d;
	size_t i;

	if (upper && (nl < 8 || memcmp(name, "POSTERN_", 8) != 0))
		return;         /* PATH, PROTO, TCP*: environment only */
	if (memchr(value, '\n', vl) != NULL)
		return;         /* lists go as repeated attributes */
	if (request_room(e, nl + vl + 2) < 0)
		return;
	d = e->req + e->reqlen;
	if (upper) {
		memcpy(d, "postern_", 8);
		for (i = 8; i < nl; i++) {
			unsigned char c = (unsigned char)name[i];
			d[i] = (char)((unsigned)c - 'A' < 26u ? c + ('a' - 'A') : c);
		}
	} else {
		memcpy(d, name, nl);
	}
	if (e->only != NULL && !wanted(e->only, d, nl)) {
		*d = '\0';     /* not asked for (attributes =): not committed */
		return;
	}
	d += nl;
	*d++ = '=';
	memcpy(d, value, vl);
	d += vl;
	*d++ = '\n';
	*d = '\0';
	e->reqlen = (size_t)(d - e->req);
}

void
policy_request_init(struct hook_env *e)
{
	hook_env_init(e);
	e->add_request = request_add;
}

/* The next word of *P (after blanks), at most MAX octets: its start, its
 * length in *LEN, and *P moved past it. */
static const char *
word(const char **p, size_t max, size_t *len)
{
	const char *w = *p;
	size_t n = 0;

	while (*w == ' ' || (*w >= '\t' && *w <= '\r'))
		w++;
	while (n < max && w[n] != '\0' && w[n] != ' ' && !(w[n] >= '\t' && w[n] <= '\r'))
		n++;
	*p = w + n;
	*len = n;
	return w;
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
	hook_env_add_dotnum(a, "queue_id", s->id, s->nmessages + 1);
	hook_env_add(a, "sender", s->in_transaction ? s->mail_from : "");
	hook_env_add(a, "recipient", kind == HOOK_RCPT ? s->last_rcpt : "");
	hook_env_add_num(a, "recipient_count", s->nrcpts);
	hook_env_add(a, "client_address", s->client_addr);
	hook_env_add(a, "client_name", s->dns.client_name);
	hook_env_add(a, "reverse_client_name", s->dns.reverse_client_name);
	hook_env_add_num(a, "client_port", s->client_port);
	hook_env_add(a, "server_address", s->server_addr);
	hook_env_add_num(a, "server_port", s->server_port);
	hook_env_add_dotnum(a, "instance", s->id, s->nmessages + 1);
	hook_env_add(a, "sasl_method", s->auth_method);
	hook_env_add(a, "sasl_username", s->auth_user);
	hook_env_add(a, "sasl_sender", "");
	if (kind == HOOK_DATA)
		hook_env_add_num(a, "size", body_len);
	else if (s->in_transaction && s->declared_size >= 0)
		hook_env_add_num(a, "size", s->declared_size);
	else
		hook_env_add(a, "size", "0");
	{
		/* as sscanf("%63s %95s") did: two words of at most 63 and 95 */
		const char *p = s->tls_info, *proto, *cipher;
		size_t pl, cl;
		proto = word(&p, 63, &pl);
		cipher = word(&p, 95, &cl);
		hook_env_addn(a, "encryption_protocol", 19, proto, pl);
		hook_env_addn(a, "encryption_cipher", 17, cipher, cl);
		hook_env_add(a, "encryption_keysize", "");
	}
	/* Postfix's meaning: CNs of a verified certificate, the fingerprint of any */
	hook_env_add(a, "ccert_subject", s->tls_peer.verified ? s->tls_peer.subject_cn : "");
	hook_env_add(a, "ccert_issuer", s->tls_peer.verified ? s->tls_peer.issuer_cn : "");
	hook_env_add(a, "ccert_fingerprint", s->tls_peer.fingerprint);
	hook_env_add(a, "etrn_domain", "");
	hook_env_add(a, "stress", s->stress ? "yes" : "");
	hook_env_add(a, "policy_context", "");
	/* and the POSTERN_* values, lower-cased (request mode does that),
	 * unless the step asked for none of them */
	if (a->only == NULL || strstr(a->only, " postern_") != NULL)
		session_hook_env(s, st, kind, a);
	if (s->in_transaction && s->rcpts != NULL && (a->only == NULL || strstr(a->only, " postern_rcpt_list ") != NULL)) {
		/* one attribute per recipient: postern_rcpt_list=addr */
		const char *p = s->rcpts;
		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			size_t l = nl != NULL ? (size_t)(nl - p) : strlen(p);
			hook_env_addn(a, "postern_rcpt_list", 17, p, l);
			p += l + (p[l] == '\n');
		}
	}
	a->only = NULL;         /* postern_auth's user= and password= are what it is for */
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		char *eq = strchr(extra[i], '=');
		if (eq == NULL || eq - extra[i] >= 32)
			continue;       /* longer than any name we send */
		hook_env_addn(a, extra[i], (size_t)(eq - extra[i]), eq + 1, strlen(eq + 1));
	}
}

void
policy_request_build(struct session *s, const struct step *st, enum hook_kind kind,
    char *const extra[], long long body_len, struct hook_env *req)
{
	policy_request_init(req);
	if (st->attributes[0] != '\0')
		req->only = st->attributes;
	policy_attrs(s, st, kind, req, extra, body_len);
}

void
session_policy(struct session *s, const struct step *st, enum hook_kind kind, char *const extra[],
    const struct message *body, struct hook_result *res)
{
	struct hook_env req;

	policy_request_build(s, st, kind, extra, body != NULL ? body->len : 0, &req);
	if (request_room(&req, 1) < 0) {
		hook_env_free(&req);
		hook_result_init(res);
		return;
	}
	req.req[req.reqlen++] = '\n';  /* the empty line that ends it */
	req.req[req.reqlen] = '\0';
	policy_ask(s->cfg, st, kind, req.req, req.reqlen, body, res);
	hook_env_free(&req);
}
