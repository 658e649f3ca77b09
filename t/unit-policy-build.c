/* SPDX-License-Identifier: ISC */
/*
 * unit-policy-build.c - the policy request a persistent hook gets
 * (worker/policy_request.c), byte for byte, for sessions in several
 * states: what a policy server parses must not change when the builder
 * does.  The expected texts are in t/policy-requests.txt, one request per
 * block, in the order of the cases below; POSTERN_DUMP=1 prints the
 * requests in that form instead of checking them.  Then a step with
 * attributes = (only the attributes it asks for).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/session.h"
#include "worker/hook.h"
#include "worker/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct session s;
static struct config cfg;
static struct endpoint ep;
static struct limits lim;
static struct step st;

/* A session after EHLO, STARTTLS with a verified certificate and AUTH. */
static void
session_full(void)
{
	memset(&s, 0, sizeof(s));
	strcpy(cfg.hostname, "mx.example.org");
	strcpy(ep.name, "submission");
	ep.protocol = PROTO_SMTP;
	strcpy(st.name, "policy");
	s.cfg = &cfg;
	s.ep = &ep;
	s.lim = &lim;
	strcpy(s.id, "DPHXXCFTN6BV");
	strcpy(s.client_addr, "192.0.2.7");
	s.client_port = 50123;
	strcpy(s.server_addr, "198.51.100.1");
	s.server_port = 587;
	strcpy(s.dns.client_name, "client.example.net");
	strcpy(s.dns.reverse_client_name, "client.example.net");
	s.dns.resolve = "OK";
	strcpy(s.tls_info, "TLSv1.3 TLS_AES_256_GCM_SHA384");
	strcpy(s.tls_peer.sni, "mx.example.org");
	s.tls_peer.cert = 1;
	s.tls_peer.verified = 1;
	strcpy(s.tls_peer.fingerprint, "AB:CD:EF:01");
	strcpy(s.tls_peer.subject, "CN=client.example.net,O=Example");
	strcpy(s.tls_peer.issuer, "CN=Example CA");
	strcpy(s.tls_peer.subject_cn, "client.example.net");
	strcpy(s.tls_peer.issuer_cn, "Example CA");
	strcpy(s.auth_user, "bob");
	strcpy(s.auth_method, "PLAIN");
	strcpy(s.helo, "client.example.net");
	s.esmtp = 1;
	s.declared_size = -1;
	s.nmessages = 2;
}

/* ... and a transaction with two recipients. */
static void
transaction(void)
{
	static char rcpts[] = "alice@example.org\ncarol@example.org\n";
	static char dsn[] = "NOTIFY=SUCCESS ORCPT=rfc822;alice@example.org\n\n";

	s.in_transaction = 1;
	strcpy(s.mail_from, "bob@example.net");
	s.declared_size = 123456;
	s.body = BODY_8BITMIME;
	s.smtputf8 = 1;
	s.requiretls = 1;
	s.has_priority = 1;
	s.priority = -3;
	strcpy(s.dsn_ret, "HDRS");
	strcpy(s.dsn_envid, "QQ314159");
	s.rcpts = rcpts;
	s.rcpts_len = sizeof(rcpts) - 1;
	s.rcpts_dsn = dsn;
	s.rcpts_dsn_len = sizeof(dsn) - 1;
	s.nrcpts = 2;
	strcpy(s.last_rcpt, "carol@example.org");
	strcpy(s.rcpt_dsn.notify, "FAILURE,DELAY");
	strcpy(s.rcpt_dsn.orcpt, "rfc822;carol@example.org");
}

/* The expected requests: blocks separated by a line "----". */
static char *expected;

static const char *
next_expected(char **at)
{
	char *p = *at, *end;

	if (p == NULL || *p == '\0')
		return "";
	end = strstr(p, "----\n");
	if (end == NULL) {
		*at = p + strlen(p);
		return p;
	}
	*end = '\0';
	*at = end + 5;
	return p;
}

static void
check(const char *what, enum hook_kind kind, char *const extra[], long long body_len, char **at)
{
	struct hook_env req;
	const char *want = next_expected(at);
	const char *got;
	char name[200];

	policy_request_build(&s, &st, kind, extra, body_len, &req);
	got = req.req != NULL ? req.req : "";
	if (getenv("POSTERN_DUMP") != NULL) {
		printf("%s----\n", got);
		hook_env_free(&req);
		return;
	}
	snprintf(name, sizeof(name), "%s: reqlen is the length", what);
	is_int((int)req.reqlen, (int)strlen(got), name);
	snprintf(name, sizeof(name), "%s: byte for byte", what);
	is_str(got, want, name);
	hook_env_free(&req);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int
main(void)
{
	char *const auth_extra[] = { "sasl_username=bob", "sasl_password=s3cret", "x_too_long_a_name_for_an_attribute=1", NULL };
	const char *srcdir = getenv("srcdir");
	char path[1024], *at;

	snprintf(path, sizeof(path), "%s/t/policy-requests.txt", srcdir != NULL ? srcdir : ".");
	if ((expected = slurp(path)) == NULL && getenv("POSTERN_DUMP") == NULL) {
		ok(0, "cannot read t/policy-requests.txt");
		return done_testing();
	}
	at = expected;

	session_full();
	check("CONNECT, nothing known yet", HOOK_CONNECT, NULL, 0, &at);
	check("EHLO", HOOK_HELO, NULL, 0, &at);
	s.auth_user[0] = '\0';
	strcpy(s.auth_mech, "PLAIN");
	check("AUTH with extra attributes", HOOK_AUTH, auth_extra, 0, &at);
	strcpy(s.auth_user, "bob");
	s.auth_mech[0] = '\0';
	transaction();
	check("MAIL", HOOK_MAIL, NULL, 0, &at);
	check("RCPT", HOOK_RCPT, NULL, 0, &at);
	check("DATA (END-OF-MESSAGE)", HOOK_DATA, NULL, 98765, &at);
	s.stress = 1;
	s.declared_size = -1;
	s.has_priority = 0;
	s.requiretls = 0;
	s.smtputf8 = 0;
	s.body = BODY_7BIT;
	s.dsn_ret[0] = s.dsn_envid[0] = '\0';
	s.tls_peer.verified = 0;
	check("RCPT in stress mode, no SIZE, an unverified certificate", HOOK_RCPT, NULL, 0, &at);
	/* plain HELO, no TLS, LMTP, no DNS */
	session_full();
	s.esmtp = 0;
	s.tls_info[0] = '\0';
	memset(&s.tls_peer, 0, sizeof(s.tls_peer));
	s.auth_user[0] = s.auth_method[0] = '\0';
	strcpy(s.dns.client_name, "unknown");
	strcpy(s.dns.reverse_client_name, "unknown");
	s.dns.resolve = "";
	s.nmessages = 0;
	s.client_port = 0;
	check("HELO without TLS", HOOK_HELO, NULL, 0, &at);
	ep.protocol = PROTO_LMTP;
	transaction();
	check("LMTP DATA", HOOK_DATA, NULL, 0, &at);
	free(expected);

	/* attributes = (opt-in): only those, and what the protocol needs */
	{
		struct hook_env req;
		char *const extra[] = { "user=bob", "password=x", NULL };
		strcpy(st.attributes, " sender postern_client_addr recipient_count ");
		policy_request_build(&s, &st, HOOK_DATA, NULL, 12, &req);
		is_str(req.req, "request=postern_data\nprotocol_state=END-OF-MESSAGE\n"
		    "sender=bob@example.net\nrecipient_count=2\ninstance=DPHXXCFTN6BV.1\nsize=12\n"
		    "postern_client_addr=192.0.2.7\n", "attributes =: only those asked for, and the four the protocol needs");
		hook_env_free(&req);
		policy_request_build(&s, &st, HOOK_AUTH, extra, 0, &req);
		ok(strstr(req.req, "\nuser=bob\npassword=x\n") != NULL && strstr(req.req, "client_port") == NULL,
		    "attributes =: postern_auth's user= and password= are always sent");
		hook_env_free(&req);
		strcpy(st.attributes, " size sender_x ");
		policy_request_build(&s, &st, HOOK_DATA, NULL, 5, &req);
		is_str(req.req, "request=postern_data\nprotocol_state=END-OF-MESSAGE\ninstance=DPHXXCFTN6BV.1\nsize=5\n",
		    "attributes = size: the four only (a name that is a prefix of another is not it)");
		hook_env_free(&req);
		st.attributes[0] = '\0';
	}
	return done_testing();
}
