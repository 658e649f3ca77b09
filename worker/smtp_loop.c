/* SPDX-License-Identifier: ISC */
/*
 * smtp_loop.c - an SMTP session from the greeting to QUIT (RFC 5321 3.1-3.3,
 * 4.1.1): reads command lines, hands each to its handler through the command
 * table (which checks the state a command needs first: EHLO, AUTH, a mail
 * transaction), and runs the commands that belong to no other part: EHLO and
 * HELO, STARTTLS (RFC 3207), RSET, NOOP, QUIT, VRFY, HELP.  MAIL, RCPT,
 * DATA and BDAT are in transaction.c, AUTH in auth.c.
 */
#include "autoconf.h"
#include "smtp_loop.h"
#include "session.h"
#include "milter_step.h"
#include "pipeline.h"
#include "auth.h"
#include "command.h"
#include "decision.h"
#include "delivery.h"
#include "hook.h"
#include "limits.h"
#include "lmtp.h"
#include "tls_session.h"
#include "esmtp_ext.h"
#include "transaction.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define COMMAND_LINE_MAX 512    /* octets including CRLF (RFC 5321 4.5.3.1.4) */
/* MAIL and RCPT may be longer: extensions add to the limit (RFC 1870 +26,
 * RFC 3461 +100/+500, RFC 4954 +500 for AUTH=). */
#define PATH_LINE_MAX    2048

/* HELO, EHLO or LHLO (VERB); ESMTP: not HELO.  An endpoint speaks SMTP or
 * LMTP, not both (lmtp.c). */
static void
smtp_hello(struct session *s, const char *arg, const char *verb, int esmtp)
{
	size_t len = strlen(arg);

	if (lmtp_wrong_hello(s, verb))
		return;
	if (len == 0 || strchr(arg, ' ') != NULL) {
		smtp_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return;
	}
	if (len >= sizeof(s->helo)) {
		smtp_reply(s, 501, "5.5.4", "Error: %s argument too long", verb);
		return;
	}
	s->accept_text[0] = '\0';
	if (endpoint_has_stage(s->cfg, s->ep, HOOK_HELO)) {
		/* the hook sees the name and the command being offered */
		char saved[sizeof(s->helo)];
		int saved_esmtp = s->esmtp;
		strlcpy(saved, s->helo, sizeof(saved));
		strlcpy(s->helo, arg, sizeof(s->helo));
		s->esmtp = esmtp;
		if (!session_ask(s, HOOK_HELO)) {
			strlcpy(s->helo, saved, sizeof(s->helo));
			s->esmtp = saved_esmtp;
			return;
		}
	}
	transaction_reset(s);           /* RFC 5321 4.1.4: EHLO resets */
	strlcpy(s->helo, arg, sizeof(s->helo));
	s->esmtp = esmtp;
	log_info("%s %s", esmtp ? (s->ep->protocol == PROTO_LMTP ? "lhlo" : "ehlo") : "helo", log_esc(s->helo));
	if (!esmtp) {
		smtp_reply(s, 250, NULL, "%s", session_accept_text(s, s->cfg->hostname));
		return;
	}
	smtp_reply_cont(s, 250, NULL, "%s", session_accept_text(s, s->cfg->hostname));
	smtp_reply_cont(s, 250, NULL, "PIPELINING");
	smtp_reply_cont(s, 250, NULL, "SIZE %lld", s->lim->max_message_size);
	smtp_reply_cont(s, 250, NULL, "8BITMIME");
	smtp_reply_cont(s, 250, NULL, "SMTPUTF8");
	smtp_reply_cont(s, 250, NULL, "DSN");
	smtp_reply_cont(s, 250, NULL, "CHUNKING");
	smtp_reply_cont(s, 250, NULL, "BINARYMIME");
	if (s->ep->tls == TLS_STARTTLS && !session_has_tls(s))
		smtp_reply_cont(s, 250, NULL, "STARTTLS");
	/* Credentials never cross in clear unless the endpoint allows it. */
	if (s->ep->auth != AUTH_NONE && (session_has_tls(s) || s->ep->insecure_auth))
		smtp_reply_cont(s, 250, NULL, "AUTH PLAIN LOGIN");
	esmtp_ext_advertise(s);
	smtp_reply(s, 250, NULL, "ENHANCEDSTATUSCODES");
}

static void
smtp_ehlo(struct session *s, const char *arg)
{
	smtp_hello(s, arg, "EHLO", 1);
}

static void
smtp_helo(struct session *s, const char *arg)
{
	smtp_hello(s, arg, "HELO", 0);
}

static void
smtp_lhlo(struct session *s, const char *arg)
{
	smtp_hello(s, arg, "LHLO", 1);
}

/* RFC 3207.  Plaintext the client sent after STARTTLS is thrown away, never
 * read inside TLS (CVE-2011-0411); after the handshake the session starts
 * over: the client must EHLO again. */
static void
smtp_starttls(struct session *s, const char *arg)
{
	struct timespec deadline;
	char why[256];
	size_t pending;

	if (session_has_tls(s)) {
		smtp_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->ep->tls != TLS_STARTTLS) {
		smtp_reply(s, 502, "5.5.1", "Error: STARTTLS is not offered here");
		return;
	}
	if (*arg != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: STARTTLS (no parameters allowed)");
		return;
	}
	if (!session_greeted(s)) {
		smtp_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	deadline = deadline_in(s->lim->command_timeout);
	if (netio_flush(s->io, &deadline) < 0) {
		s->quit = 1;
		return;
	}
	if ((pending = netio_pending(s->io)) > 0)
		log_warn("discarding %zu bytes of plaintext pipelined after STARTTLS", pending);
	netio_discard_input(s->io);
	if (tls_accept(s->io, s->tls_server, &deadline, s->tls_info, sizeof(s->tls_info),
	    &s->tls_peer, why, sizeof(why)) < 0) {
		log_info("STARTTLS: %s", why);
		s->tls_info[0] = '\0';
		s->quit = 1;
		return;
	}
	log_info("STARTTLS: %s", s->tls_info);
	transaction_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->auth_user[0] = '\0';
	s->auth_method[0] = '\0';
}

static void
smtp_rset(struct session *s, const char *arg)
{
	(void)arg;
	transaction_reset(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void
smtp_noop(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void
smtp_quit(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply(s, 221, "2.0.0", "Bye");
	s->quit = 1;
}

static void
smtp_vrfy(struct session *s, const char *arg)
{
	if (*arg == '\0')
		smtp_reply(s, 501, "5.5.4", "Syntax: VRFY address");
	else
		smtp_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
smtp_expn(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply(s, 502, "5.5.1", "Error: EXPN is not supported");
}

static void
smtp_help(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply_cont(s, 214, "2.0.0", "Commands: %s MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
	    s->ep->protocol == PROTO_LMTP ? "LHLO" : "EHLO HELO");
	smtp_reply(s, 214, "2.0.0", "See RFC 5321");
}

static void
smtp_bad_chars(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply(s, 500, "5.5.2", "Error: invalid characters in command");
}

static void
smtp_unknown(struct session *s, const char *arg)
{
	(void)arg;
	smtp_reply(s, 500, "5.5.2", "Error: command not recognized");
}

/* What a command needs before its handler runs, checked in this order. */
enum {
	NO_ARG = 1 << 0,        /* 501 if an argument is given */
	NEEDS_HELO = 1 << 1,    /* 503 before EHLO/HELO */
	NEEDS_AUTH = 1 << 2,    /* 530 before AUTH where auth = required */
	NEEDS_MAIL = 1 << 3,    /* 503 outside a mail transaction */
};

static const struct command_entry {
	const char *name;       /* for the 501 of NO_ARG */
	unsigned needs;
	void (*handler)(struct session *, const char *arg);
} commands[] = {
	[CMD_EHLO] = { "EHLO", 0, smtp_ehlo },
	[CMD_HELO] = { "HELO", 0, smtp_helo },
	[CMD_MAIL] = { "MAIL", NEEDS_HELO | NEEDS_AUTH, smtp_mail },
	[CMD_RCPT] = { "RCPT", NEEDS_MAIL, smtp_rcpt },
	[CMD_DATA] = { "DATA", NO_ARG | NEEDS_MAIL, smtp_data },
	[CMD_BDAT] = { "BDAT", 0, smtp_bdat },  /* its octets are read first */
	[CMD_RSET] = { "RSET", NO_ARG, smtp_rset },
	[CMD_NOOP] = { "NOOP", 0, smtp_noop },
	[CMD_QUIT] = { "QUIT", NO_ARG, smtp_quit },
	[CMD_VRFY] = { "VRFY", NEEDS_AUTH, smtp_vrfy },
	[CMD_EXPN] = { "EXPN", 0, smtp_expn },
	[CMD_HELP] = { "HELP", 0, smtp_help },
	[CMD_STARTTLS] = { "STARTTLS", 0, smtp_starttls },
	[CMD_AUTH] = { "AUTH", 0, smtp_auth },
	[CMD_LHLO] = { "LHLO", 0, smtp_lhlo },
	[CMD_BAD_CHARS] = { NULL, 0, smtp_bad_chars },
	[CMD_EMPTY] = { NULL, 0, smtp_unknown },
	[CMD_UNKNOWN] = { NULL, 0, smtp_unknown },
};

static void
dispatch(struct session *s, const struct smtp_command *cmd)
{
	const struct command_entry *c;

	if ((size_t)cmd->verb >= sizeof(commands) / sizeof(commands[0]) ||
	    commands[cmd->verb].handler == NULL)
		fatalx("no handler for command verb %d", (int)cmd->verb);
	c = &commands[cmd->verb];
	if ((c->needs & NO_ARG) && *cmd->arg != '\0')
		smtp_reply(s, 501, "5.5.4", "Syntax: %s", c->name);
	else if ((c->needs & NEEDS_HELO) && !session_greeted(s))
		smtp_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
	else if ((c->needs & NEEDS_AUTH) && s->ep->auth == AUTH_REQUIRED && !session_authenticated(s))
		smtp_reply(s, 530, "5.7.0", "Error: authentication required");
	else if ((c->needs & NEEDS_MAIL) && !s->in_transaction)
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
	else
		c->handler(s, cmd->arg);
}

static void
greet(struct session *s)
{
	if (s->ep->tls == TLS_IMPLICIT) {
		struct timespec deadline = deadline_in(s->lim->command_timeout);
		char why[256];
		if (tls_accept(s->io, s->tls_server, &deadline, s->tls_info, sizeof(s->tls_info),
		    &s->tls_peer, why, sizeof(why)) < 0) {
			log_info("%s", why);
			s->quit = 1;
			return;
		}
		log_info("TLS: %s", s->tls_info);
	}
	if (endpoint_has_stage(s->cfg, s->ep, HOOK_CONNECT) && !session_ask(s, HOOK_CONNECT)) {
		/* A refused connection: the reply went out; RFC 5321 3.1 lets us
		 * wait for QUIT, but a 4xx/5xx greeting followed by close is what
		 * clients handle best. */
		s->quit = 1;
		return;
	}
	if (session_has_accept_text(s))         /* the connect hook's greeting */
		smtp_reply(s, 220, NULL, "%s", s->accept_text);
	else
		smtp_reply(s, 220, NULL, "%s %s", s->cfg->hostname, s->cfg->banner);
}

/* The command line, for the debug log: never credentials, never a line that
 * could be a client out of step sending them. */
static void
log_command(const struct smtp_command *cmd, const char *line, size_t len)
{
	if (cmd->verb == CMD_AUTH) {
		log_debug("< AUTH (credentials not logged)");
	} else if (cmd->verb == CMD_UNKNOWN || cmd->verb == CMD_EMPTY) {
		log_debug("< (unrecognized command of %zu octets)", len);
	} else if (cmd->verb != CMD_BAD_CHARS && log_debugging()) {
		char clean[640];
		log_sanitize(clean, sizeof(clean), line, len);
		log_debug("< %s", clean);
	}
}

/* Parse LINE into CMD; returns 0, or -1 when it was refused (reply queued). */
static int
parse_line(struct session *s, const char *line, size_t len, struct smtp_command *cmd)
{
	int path = 0;

	command_parse(line, len, cmd);
	path = cmd->verb == CMD_MAIL || cmd->verb == CMD_RCPT;
	if (len + 2 > COMMAND_LINE_MAX && !path) {
		smtp_reply(s, 500, "5.5.2", "Error: line too long (the limit is 512 octets)");
		return -1;
	}
	/* 8-bit bytes: only in MAIL and RCPT arguments (SMTPUTF8). */
	if (cmd->bad_utf8 && path) {
		smtp_reply(s, 501, "5.5.2", "Error: bad UTF-8 syntax");
		return -1;
	}
	if ((cmd->utf8 || cmd->bad_utf8) && !path)
		cmd->verb = CMD_BAD_CHARS;
	return 0;
}

static void
read_commands(struct session *s)
{
	char line[PATH_LINE_MAX + 1];
	struct smtp_command cmd;

	while (!s->quit) {
		size_t len;
		int rc;

		rc = limits_getline(s, line, PATH_LINE_MAX, &len);
		if (rc == NETIO_TOOLONG) {
			smtp_reply(s, 500, "5.5.2", "Error: line too long (the limit is 512 octets)");
			continue;
		}
		if (rc != NETIO_OK) {
			session_gone(s, rc, s->in_transaction ? "after MAIL" : "after command",
			    s->in_transaction ? " during the transaction" : "");
			break;
		}
		s->bytes_in += (long long)len;
		if (parse_line(s, line, len, &cmd) < 0)
			continue;
		log_command(&cmd, line, len);
		if (limits_command(s, cmd.verb) < 0)
			break;
		if (cmd.verb == CMD_UNKNOWN && milter_step_unknown(s, line))
			continue;       /* a milter refused it with its own reply */
		dispatch(s, &cmd);
		if (cmd.verb == CMD_AUTH) {
			/* the credentials of AUTH PLAIN/LOGIN ... were in both */
			explicit_bzero(line, sizeof(line));
			netio_wipe_consumed(s->io);
		}
	}
}

/* The end of the session: the same steps in the same order as ever (the
 * milters get QUIT before the transaction is reset). */
static void
session_end(struct session *s, const struct connection *conn)
{
	session_flush_last(s, conn);
	milter_step_end_session();
	session_disconnect(s);
	transaction_reset(s);
	session_headers_free(s);
	session_free(s);
}

void
session_run(const struct config *cfg, const struct tls_server *ts,
    const struct connection *conn, const sigset_t *waitmask, volatile int *abort_flag)
{
	static struct netio io;         /* 32 KiB of buffers, reused */
	struct session s;

	netio_init(&io, conn->fd, waitmask, abort_flag);
	session_open(&s, cfg, ts, conn, &io);
	if (spool_open(&s.spool, cfg->spool_directory) < 0) {
		log_err("cannot create a spool file in %s: %s (check [server] spool_directory)",
		    cfg->spool_directory, strerror(errno));
		smtp_reply(&s, 421, "4.3.0", "%s Service not available, try again later", cfg->hostname);
	} else {
		greet(&s);
		if (!s.quit)
			read_commands(&s);
	}
	session_end(&s, conn);
}
