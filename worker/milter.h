/* SPDX-License-Identifier: ISC */
/*
 * milter.h - the milter client (DESIGN.md "Milter client"): one connection
 * per session per milter, protocol version 6 with option negotiation (older
 * milters down to version 2 work), every SMTP event with the macros Postfix
 * sends, end-of-message edits collected into a list (milter_edit.h).
 *
 * The caller owns a struct milter per configured milter and per session,
 * calls one function per SMTP event, and acts on the result.  Any failure
 * (refused, timeout, malformed or oversized packet, closed connection)
 * becomes the milter's default_action, logged with its name; with tempfail
 * or reject, every later command of the session gets that reply
 * (milter_session_reply()), as with Postfix's milter_default_action.
 */
#ifndef POSTERN_MILTER_H
#define POSTERN_MILTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "milter_proto.h"
#include "milter_edit.h"

#define MILTER_MACROS_MAX 64     /* macros sent per stage, at most */

enum milter_default {
	MILTER_DEFAULT_TEMPFAIL, MILTER_DEFAULT_ACCEPT, MILTER_DEFAULT_REJECT,
};

struct milter_settings {
	const char *name;               /* the step name, in log lines */
	const char *socket;             /* inet:HOST:PORT or unix:/path */
	enum milter_default default_action;
	int connect_timeout;            /* seconds */
	int command_timeout;
	int content_timeout;
};

/*
 * The macro values, filled in by the caller (NULL or "": not sent).  The
 * names are Sendmail's: client_addr is {client_addr}, underscore is "_",
 * j the host name, v the program version, i the queue id.
 */
struct milter_macros {
	const char *j, *underscore, *v, *i;
	const char *daemon_name, *daemon_addr;
	const char *client_addr, *client_port, *client_name, *client_ptr;
	const char *client_connections;
	const char *auth_type, *auth_authen, *auth_author;
	const char *tls_version, *cipher, *cipher_bits, *cert_subject, *cert_issuer;
	const char *mail_mailer, *mail_host, *mail_addr;
	const char *rcpt_mailer, *rcpt_host, *rcpt_addr;
};

/* The value of macro NAME ("j", "{daemon_name}", "daemon_name"), or NULL. */
const char *milter_macro_value(const struct milter_macros *, const char *name);
/* Where the value of macro NAME is kept in MM (NULL: not a macro we know). */
const char **milter_macro_slot(struct milter_macros *mm, const char *name);
/* Postfix's default macro list for STAGE (milter_*_macros). */
const char *milter_default_macros(enum milter_stage);

enum milter_verdict {
	MILTER_V_PASS,          /* go on: continue, accept, or a failure with accept */
	MILTER_V_REJECT,        /* refuse the command (5xx in reply) */
	MILTER_V_TEMPFAIL,      /* refuse the command (4xx in reply) */
	MILTER_V_DISCARD,       /* accept the message with 250, store nothing */
};

struct milter_result {
	enum milter_verdict verdict;
	char reply[512];        /* REJECT/TEMPFAIL: the SMTP reply, lines joined by CR LF */
	int failed;             /* the milter failed: this is its default_action */
};

enum milter_state {
	MILTER_IDLE,            /* not connected yet */
	MILTER_OPEN,            /* negotiated, taking events */
	MILTER_MSG_DONE,        /* accepted this message: quiet until the next one */
	MILTER_DONE,            /* accepted the session, or failed: no more events */
};

struct milter {
	struct milter_settings set;
	enum milter_state state;
	int fd;
	int in_msg;             /* MAIL was sent: an ABORT is due before the next */
	struct milter_optneg neg;       /* what the milter answered */
	struct milter_maclist {         /* per stage, parsed once (milter_macros_prepare) */
		unsigned char n;
		unsigned short name[MILTER_MACROS_MAX]; /* offsets into neg.list[stage] */
		unsigned char slot[MILTER_MACROS_MAX];  /* which struct milter_macros member */
	} macs[MILTER_STAGES];
	char session_reply[512];        /* "" or the reply every command now gets */
	char why[256];          /* the last failure, for tests and logs */
	struct milter_buf out;
	unsigned char *in;      /* MILTER_MAX_PACKET + 4 bytes */
	size_t inlen, inskip;   /* bytes read; of which the last packet's */
	int sent;               /* sent since the last read: wait before reading */
};

void milter_init(struct milter *, const struct milter_settings *);
/* QUIT and close (if connected); frees buffers.  The struct can be reused
 * with milter_init. */
void milter_close(struct milter *);

/* Not "" when a failure (or a refusal at CONNECT) makes every later command
 * of this session get this reply ("451 4.7.1 ..." with tempfail). */
const char *milter_session_reply(const struct milter *);

/*
 * The events.  Each fills RES; MACROS are read at the time of the call.
 * FAMILY is SMFIA_INET, SMFIA_INET6, SMFIA_UNIX or SMFIA_UNKNOWN.
 * ARGS of milter_mail/milter_rcpt are "<address>" then the ESMTP
 * parameters, as in the command.
 */
void milter_connect(struct milter *, const struct milter_macros *,
    const char *hostname, char family, unsigned port, const char *addr,
    struct milter_result *);
void milter_helo(struct milter *, const struct milter_macros *,
    const char *helo, struct milter_result *);
void milter_mail(struct milter *, const struct milter_macros *,
    const char *const *args, size_t nargs, struct milter_result *);
void milter_rcpt(struct milter *, const struct milter_macros *,
    const char *const *args, size_t nargs, struct milter_result *);
void milter_data(struct milter *, const struct milter_macros *,
    struct milter_result *);
void milter_unknown(struct milter *, const struct milter_macros *,
    const char *line, struct milter_result *);
/* The message, exact CR LF bytes (headers including our Received:, body):
 * HEADER, EOH, BODY chunks, EOB.  Edits asked for at the end go to EDITS
 * (apply them with milter_edits_apply); a quarantine reason too. */
void milter_message(struct milter *, const struct milter_macros *,
    const char *msg, size_t len, struct milter_edits *edits,
    struct milter_result *);
/* RSET, or the transaction ended: ABORT if a message was under way. */
void milter_abort(struct milter *);

/*
 * Events the milter does not answer (its SMFIP_NR_* flags, and ABORT) are
 * held in m->out, as Postfix holds them in its stream buffer, and go in one
 * write with the next event that waits for a reply (so a message to rspamd,
 * which answers only its end, is one write), with QUIT, once
 * MILTER_HOLD_MAX bytes are held, or when the caller sends them: the
 * session does so when the SMTP client has been quiet for a moment
 * (milter_step.c), so that a silence on the milter connection is never
 * more than that moment longer than the client's own.  Nothing the milter could answer waits behind them, and it
 * sees every event in order.
 */
#define MILTER_HOLD_MAX 65536
/* Events held, not sent yet? */
int milter_pending(const struct milter *);
/* Send them (a failure shows at the next event, as the default_action). */
void milter_send_pending(struct milter *);

/* The pieces shared by milter.c, milter_reply.c, milter_msg.c and
 * milter_macro.c. */
#define MILTER_REPLY_REJECT   "550 5.7.1 Command rejected"
#define MILTER_REPLY_TEMPFAIL "451 4.7.1 Service unavailable - try again later"
#define MILTER_REPLY_SHUTDOWN "421 4.7.0 Server closing connection"
/* The next packet by DEADLINE; -1 with m->why on failure. */
int milter_read_packet(struct milter *, const struct timespec *deadline, char *cmd,
    const unsigned char **data, size_t *len);
/* Close the connection: no more events for this milter in the session. */
void milter_disconnect(struct milter *);
/* After negotiation: each stage's macro list (the milter's, or Postfix's
 * default) parsed into m->macs, so that events look nothing up by name. */
void milter_macros_prepare(struct milter *);
/* Append the MACRO packet for CMD's stage to m->out. */
int milter_put_macros(struct milter *, char cmd, const struct milter_macros *);
/* Write m->out within TIMEOUT seconds; -1 on failure (m->why says why). */
int milter_flush(struct milter *, int timeout);
/* Read the reply to CMD within TIMEOUT seconds (PROGRESS restarts it);
 * edits (only after EOB) go to EDITS.  Returns one of: */
enum milter_await {
	MILTER_AW_CONTINUE,     /* continue */
	MILTER_AW_ACCEPT,       /* accept: no more events for this message/session */
	MILTER_AW_SKIP,         /* skip the rest of the body */
	MILTER_AW_DONE,         /* RES is the answer: refused, discarded or failed */
};
enum milter_await milter_await(struct milter *, char cmd, int timeout,
    struct milter_edits *, struct milter_result *);
/* Send (or hold) the event that was appended to m->out, ENC the encoder's
 * result; unless NRFLAG was negotiated, read the reply within TIMEOUT
 * seconds, edits (after EOB only) to EDITS. */
enum milter_await milter_send(struct milter *, char cmd, int enc, uint32_t nrflag,
    int timeout, struct milter_edits *edits, struct milter_result *res);
void milter_fail(struct milter *, struct milter_result *, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
