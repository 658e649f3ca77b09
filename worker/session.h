/* SPDX-License-Identifier: ISC */
/*
 * session.h - one SMTP session (RFC 5321 "session"): the connection, the
 * client's identity, the mail transaction in progress.
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <stddef.h>
#include <sys/socket.h>

#include "address.h"
#include "../common/config.h"
#include "netio.h"
#include "spool.h"
#include "esmtp_params.h"
#include "data.h"
#include "dns.h"
#include "tls_peer.h"

struct scoreboard;

struct session {
	const struct config *cfg;
	const struct endpoint *ep;
	const struct limits *lim;
	struct limits stress_limits;    /* lim points here in stress mode */
	int stress;                     /* in stress mode (limits.c) */
	int junk, junk_since;           /* junk commands since message number junk_since */
	unsigned char rate_key[9];      /* the client, for the shared rates */
	int limit_exempt;               /* in limit_exempt (ratelimit.c) */
	const struct scoreboard *sb;
	struct netio *io;
	struct spool spool;
	char id[16];                    /* session id, in every log line */
	char client_addr[64];
	unsigned client_port;
	char server_addr[64];
	unsigned server_port;
	struct fcrdns dns;              /* dns.client_name, dns.reverse_client_name */

	/* TLS */
	const struct tls_server *tls_server;
	char tls_info[128];             /* "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS */
	struct tls_peer tls_peer;       /* SNI and client certificate */

	/* AUTH (RFC 4954) */
	char auth_user[256];            /* "" until AUTH succeeded */
	char auth_mech[16];             /* during the auth hook only */
	char auth_method[16];           /* the mechanism that succeeded */
	int auth_failures;

	/* after EHLO/HELO */
	char helo[256];
	int esmtp;                      /* EHLO (not HELO) was used */

	/* the mail transaction */
	int in_transaction;
	char mail_from[SMTP_PATH_MAX + 1];
	long long declared_size;        /* SIZE=, -1 if not given */
	enum body_type body;            /* BODY= */
	int smtputf8;                   /* SMTPUTF8 given (RFC 6531) */
	int requiretls;                 /* REQUIRETLS given (RFC 8689) */
	int has_priority, priority;     /* MT-PRIORITY= (RFC 6710), -9 to 9 */
	char dsn_ret[8];                /* RET= (RFC 3461) */
	char dsn_envid[101];            /* ENVID=, xtext */
	char *rcpts;                    /* accepted recipients, "a@b\n" each */
	size_t rcpts_len, rcpts_cap;
	char *rcpts_dsn;                /* "NOTIFY=... ORCPT=...\n" for each */
	size_t rcpts_dsn_len, rcpts_dsn_cap;
	int nrcpts;
	char last_rcpt[SMTP_PATH_MAX + 1];
	struct rcpt_params rcpt_dsn;    /* of the RCPT being checked */
	/* CHUNKING (RFC 3030) */
	int chunking;                   /* BDAT seen in this transaction */
	int chunk_failed;               /* a chunk was refused: discard the rest */
	struct data_reader chunk_reader;
	struct timespec data_started;
	char queue_id[32];

	/* the text of an accepting hook's reply line, for the positive reply */
	char accept_text[512];
	/* headers steps added before the message (pipeline.c), by stage:
	 * connect, helo, and mail/rcpt of this transaction */
	struct step_headers {
		char *p;
		size_t len, cap;
	} hdrs[3];

	/* counters */
	int errors;
	int nmessages;                  /* accepted in this session */
	int ntransactions;              /* MAIL commands accepted (max_transactions) */
	int quit;                       /* stop reading: QUIT, 421, fatal error */
	long long bytes_in;
};

/* The session's states, by name. */
static inline int
session_has_tls(const struct session *s)
{
	return s->tls_info[0] != '\0';
}

static inline int
session_greeted(const struct session *s)       /* EHLO or HELO was accepted */
{
	return s->helo[0] != '\0';
}

static inline int
session_authenticated(const struct session *s)
{
	return s->auth_user[0] != '\0';
}

/* Did an accepting hook give the text for the positive reply? */
static inline int
session_has_accept_text(const struct session *s)
{
	return s->accept_text[0] != '\0';
}

/* The text for a positive reply: an accepting hook's, else DFLT. */
static inline const char *
session_accept_text(const struct session *s, const char *dflt)
{
	return session_has_accept_text(s) ? s->accept_text : dflt;
}

/* An accepted connection, as the worker hands it to a session. */
struct connection {
	int fd;
	const struct endpoint *ep;
	struct sockaddr_storage client; /* from the PROXY header, when there is one */
	struct sockaddr_storage server;
	int stress;                     /* every worker is busy: short timeouts */
	unsigned char *client_key;      /* the scoreboard's per-client key, or NULL */
	const struct scoreboard *sb;    /* to notice stress mode (limits.c) */
	int exempt;                     /* in limit_exempt: no per-client limit */
};

struct tls_server;
/* Set up S for the connection CONN, reading and writing through IO. */
void session_open(struct session *, const struct config *, const struct tls_server *,
    const struct connection *, struct netio *io);
/* Switch the session to stress-mode limits (limits.c decides when). */
void session_stress(struct session *);
/*
 * The end of the session, in steps so that session.c needs none of the
 * files that hold the transaction (session_run() in smtp_loop.c calls them
 * in this order, with the milters' QUIT and the transaction reset between):
 * session_flush_last() leaves the per-client count and flushes the last
 * replies; session_disconnect() closes TLS and logs; session_free() frees
 * what session_open() and the transaction left and closes the spool.
 */
void session_flush_last(struct session *, const struct connection *);
void session_disconnect(struct session *);
void session_free(struct session *);

/*
 * Queue one reply line (RFC 5321 4.2): CODE, then ENH, the enhanced status
 * code (RFC 3463; NULL for replies that carry none: the greeting, EHLO's
 * 250 lines, 334, 354), then the text.  smtp_reply_cont() queues a line of a
 * multi-line reply ("250-..."); the last line goes through smtp_reply().
 * Protocol errors are counted: max_errors of them end the session with 421.
 */
void smtp_reply(struct session *, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtp_reply_cont(struct session *, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * The connection failed with RC (a netio_status: timeout, shutdown, end,
 * error): tell the client with a 421 where it is still there to hear it, log
 * "timeout TIMEOUT_WHY: disconnecting" or "lost connection LOST_WHY" (NULL:
 * no line), and end the session.
 */
void session_gone(struct session *, int rc, const char *timeout_why, const char *lost_why);
/* Refuse to go on (a limit, a stream that cannot be resynchronised): reply
 * "421 4.7.0 HOSTNAME Error: WHY" and end the session. */
void session_close_421(struct session *, const char *why);

/* Queue a whole reply line "CODE TEXT" as a hook wrote it (the code is the
 * first 3 characters of FMT's output), counted as smtp_reply() does. */
void reply(struct session *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
