/*
 * session.h - one SMTP session (RFC 5321 "session"): the connection, the
 * client's identity, the mail transaction in progress.
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <stddef.h>
#include <sys/socket.h>

#include "../common/address.h"
#include "../common/config.h"
#include "netio.h"
#include "spool.h"
#include "esmtp_params.h"
#include "data.h"
#include "tls_peer.h"

struct session {
	const struct config *cfg;
	const struct endpoint *ep;
	const struct limits *lim;
	struct limits stress_limits;    /* lim points here in stress mode */
	struct netio *io;
	struct spool spool;
	char id[16];                    /* session id, in every log line */
	char client_addr[64];
	unsigned client_port;
	char server_addr[64];
	unsigned server_port;

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

	/* counters */
	int errors;
	int nmessages;                  /* accepted in this session */
	int quit;                       /* stop reading: QUIT, 421, fatal error */
	long long bytes_in;
};

/* Run a whole session on the connected socket FD; returns when it is over. */
/* An accepted connection, as the worker hands it to a session. */
struct connection {
	int fd;
	const struct endpoint *ep;
	struct sockaddr_storage client; /* from the PROXY header, when there is one */
	struct sockaddr_storage server;
	int stress;                     /* every worker is busy: short timeouts */
	unsigned char *client_key;      /* the scoreboard's per-client key, or NULL */
};

struct tls_server;
void session_run(const struct config *, const struct tls_server *,
    const struct connection *, const sigset_t *waitmask, volatile int *abort_flag);

/* Queue one reply line "CODE TEXT" (formatted; the code is the first 3
 * characters of FMT's output). Counts protocol errors. */
void reply(struct session *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The parts of the session, one file each. */
void smtp_mail(struct session *, const char *arg);
void smtp_rcpt(struct session *, const char *arg);
void smtp_data(struct session *, const char *arg);
void transaction_reset(struct session *);
void smtp_auth(struct session *, const char *arg);
void smtp_bdat(struct session *, const char *arg);

/* Run the hook for KIND with the session's environment (decision.c). */
struct hook_result;
void session_hook(struct session *, enum hook_kind, int stdin_fd,
    const char *fd3, size_t fd3_len, struct hook_result *);
/* Ask a persistent hook (policy protocol); EXTRA are more name=value
 * attributes, BODY_FD/BODY_LEN the message for postern_data. */
void session_policy(struct session *, enum hook_kind, char *const extra[],
    int body_fd, long long body_len, struct hook_result *);
/* Queue the reply for a hook that did not accept. */
void session_refuse(struct session *, enum hook_kind, const struct hook_result *);
/* Ask the hook for KIND, if one is set.  Returns 1 if it accepted (the
 * caller sends the positive reply), else queues the refusal and returns 0. */
int session_ask(struct session *, enum hook_kind);

/* Build the hook environment for KIND from the session state. */
struct hook_env;
void session_hook_env(struct session *, enum hook_kind, struct hook_env *);

/* Write the Received: trace header for the current transaction to the spool. */
void received_write(struct session *, const char *queue_id);

#endif
