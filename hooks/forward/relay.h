/* SPDX-License-Identifier: ISC */
/*
 * relay.h - postern-forward's SMTP/LMTP client: the downstream session
 * (greeting, EHLO/LHLO, STARTTLS, XCLIENT) and the transaction (MAIL, RCPT,
 * the message), kept across the requests of one posternd transaction and
 * the transactions of a worker.
 */
#ifndef POSTERN_FORWARD_RELAY_H
#define POSTERN_FORWARD_RELAY_H

#include <gnutls/gnutls.h>

#include "conn.h"
#include "reply.h"
#include "../policy-request.h"

enum tls_mode { TLS_NO, TLS_TRY, TLS_REQUIRE };

struct fwd_opts {
	const char *target;		/* inet:HOST:PORT or unix:/path */
	const char *helo;		/* our EHLO/LHLO name */
	const char *tls_name;		/* the name the certificate must match */
	int lmtp, xclient, tls_verify;
	enum tls_mode tls;
	int timeout, data_timeout;	/* seconds */
};

struct fwd_rcpt {
	char *addr;
	char *params;			/* " NOTIFY=... ORCPT=..." or "" */
};

struct fwd {
	struct fwd_opts o;
	gnutls_certificate_credentials_t cred;
	struct conn c;
	unsigned caps;
	int tls_failed;			/* --tls=try: this server's TLS broke */
	char xclient_sent[512];		/* the client last announced */
	/* the downstream transaction */
	char instance[128];
	int open;			/* MAIL accepted on this connection */
	struct fwd_rcpt *rcpts;		/* accepted downstream, in order */
	size_t nrcpts, rcap;
};

/* An answer for posternd: "OK" or "NNN X.Y.Z text". */
struct answer {
	char action[600];
};

/* Was an answer given ("" until then)? */
static inline int
fwd_answered(const struct answer *a)
{
	return a->action[0] != '\0';
}

void fwd_answer_reply(struct answer *a, const struct reply *r);
void fwd_answer(struct answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int fwd_mail(struct fwd *f, const struct preq *q, struct answer *a);
int fwd_rcpt(struct fwd *f, const struct preq *q, struct answer *a);
/* Make the downstream transaction hold exactly the request's recipients
 * (postern_rcpt_list), rebuilding it when it does not. */
int fwd_sync(struct fwd *f, const struct preq *q, struct answer *a);
void fwd_reset(struct fwd *f);
void fwd_drop(struct fwd *f);
void fwd_quit(struct fwd *f);

#endif
