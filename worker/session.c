/*
 * session.c - an SMTP session from the greeting to QUIT (RFC 5321 3.1-3.3,
 * 4.1.1): reads command lines, answers each with exactly one reply, keeps the
 * counters and limits that end a session (max_errors, timeouts), and hands
 * MAIL, RCPT and DATA to transaction.c.
 */
#include "autoconf.h"
#include "session.h"
#include "command.h"
#include "hook.h"
#include "tls.h"
#include "../common/log.h"
#include "../common/netaddr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unistd.h>

#define COMMAND_LINE_MAX 512    /* octets including CRLF (RFC 5321 4.5.3.1.4) */
/* MAIL and RCPT may be longer: extensions add to the limit (RFC 1870 +26,
 * RFC 3461 +100/+500, RFC 4954 +500 for AUTH=). */
#define PATH_LINE_MAX    2048

void
reply(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, code;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > 510)    /* reply lines are at most 512 with CRLF */
		n = 510;
	line[n] = '\0';
	netio_write(s->io, line, (size_t)n);
	netio_write(s->io, "\r\n", 2);
	code = atoi(line);
	if (code >= 400)
		log_debug("> %s", log_esc(line));
	switch (code) {
	case 500: case 501: case 502: case 503: case 504: case 530: case 555:
		if (++s->errors >= s->lim->max_errors && !s->quit) {
			netio_printf(s->io, "421 4.7.0 %s Error: too many errors\r\n", s->cfg->hostname);
			log_info("too many errors (%d): disconnecting", s->errors);
			s->quit = 1;
		}
		break;
	}
}

static void
new_session_id(char *id, size_t len)
{
	static const char alphabet[] = "0123456789BCDFGHJKLMNPQRSTVWXYZ";
	size_t i;

	for (i = 0; i + 1 < len && i < 12; i++)
		id[i] = alphabet[arc4random_uniform(sizeof(alphabet) - 1)];
	id[i] = '\0';
}

static void
smtp_ehlo(struct session *s, const char *arg, int esmtp)
{
	size_t len = strlen(arg);

	if (len == 0 || strchr(arg, ' ') != NULL) {
		reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	if (len >= sizeof(s->helo)) {
		reply(s, "501 5.5.4 Error: %s argument too long", esmtp ? "EHLO" : "HELO");
		return;
	}
	s->accept_text[0] = '\0';
	if (hook_is_set(s->cfg, HOOK_HELO)) {
		/* the hook sees the name being offered */
		char saved[sizeof(s->helo)];
		strlcpy(saved, s->helo, sizeof(saved));
		strlcpy(s->helo, arg, sizeof(s->helo));
		if (!session_ask(s, HOOK_HELO)) {
			strlcpy(s->helo, saved, sizeof(s->helo));
			return;
		}
	}
	transaction_reset(s);           /* RFC 5321 4.1.4: EHLO resets */
	strlcpy(s->helo, arg, sizeof(s->helo));
	s->esmtp = esmtp;
	log_info("%s %s", esmtp ? "ehlo" : "helo", log_esc(s->helo));
	if (!esmtp) {
		reply(s, "250 %s", s->accept_text[0] ? s->accept_text : s->cfg->hostname);
		return;
	}
	reply(s, "250-%s", s->accept_text[0] ? s->accept_text : s->cfg->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %lld", s->lim->max_message_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-DSN");
	reply(s, "250-CHUNKING");
	reply(s, "250-BINARYMIME");
	if (s->ep->tls == TLS_STARTTLS && s->tls_info[0] == '\0')
		reply(s, "250-STARTTLS");
	/* Credentials never cross in clear unless the endpoint allows it. */
	if (s->ep->auth != AUTH_NONE && (s->tls_info[0] != '\0' || s->ep->insecure_auth))
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 ENHANCEDSTATUSCODES");
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

	if (s->tls_info[0] != '\0') {
		reply(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (s->ep->tls != TLS_STARTTLS) {
		reply(s, "502 5.5.1 Error: STARTTLS is not offered here");
		return;
	}
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: STARTTLS (no parameters allowed)");
		return;
	}
	if (s->helo[0] == '\0') {
		reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	deadline = netio_deadline(s->lim->command_timeout);
	if (netio_flush(s->io, &deadline) < 0) {
		s->quit = 1;
		return;
	}
	if ((pending = netio_pending(s->io)) > 0)
		log_warn("discarding %zu bytes of plaintext pipelined after STARTTLS", pending);
	netio_discard_input(s->io);
	if (tls_accept(s->io, s->tls_server, &deadline, s->tls_info, sizeof(s->tls_info),
	    why, sizeof(why)) < 0) {
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
smtp_help(struct session *s)
{
	reply(s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
	reply(s, "214 2.0.0 See RFC 5321");
}

static void
dispatch(struct session *s, const struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case CMD_EHLO:
		smtp_ehlo(s, cmd->arg, 1);
		break;
	case CMD_HELO:
		smtp_ehlo(s, cmd->arg, 0);
		break;
	case CMD_MAIL:
		smtp_mail(s, cmd->arg);
		break;
	case CMD_RCPT:
		smtp_rcpt(s, cmd->arg);
		break;
	case CMD_BDAT:
		smtp_bdat(s, cmd->arg);
		break;
	case CMD_DATA:
		smtp_data(s, cmd->arg);
		break;
	case CMD_RSET:
		if (*cmd->arg != '\0') {
			reply(s, "501 5.5.4 Syntax: RSET");
			break;
		}
		transaction_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case CMD_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case CMD_QUIT:
		if (*cmd->arg != '\0') {
			reply(s, "501 5.5.4 Syntax: QUIT");
			break;
		}
		reply(s, "221 2.0.0 Bye");
		s->quit = 1;
		break;
	case CMD_VRFY:
		if (s->ep->auth == AUTH_REQUIRED && s->auth_user[0] == '\0')
			reply(s, "530 5.7.0 Error: authentication required");
		else if (*cmd->arg == '\0')
			reply(s, "501 5.5.4 Syntax: VRFY address");
		else
			reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case CMD_EXPN:
		reply(s, "502 5.5.1 Error: EXPN is not supported");
		break;
	case CMD_HELP:
		smtp_help(s);
		break;
	case CMD_STARTTLS:
		smtp_starttls(s, cmd->arg);
		break;
	case CMD_AUTH:
		smtp_auth(s, cmd->arg);
		break;

	case CMD_BAD_CHARS:
		reply(s, "500 5.5.2 Error: invalid characters in command");
		break;
	case CMD_EMPTY:
	case CMD_UNKNOWN:
		reply(s, "500 5.5.2 Error: command not recognized");
		break;
	}
}

static void
greet(struct session *s)
{
	if (s->ep->tls == TLS_IMPLICIT) {
		struct timespec deadline = netio_deadline(s->lim->command_timeout);
		char why[256];
		if (tls_accept(s->io, s->tls_server, &deadline, s->tls_info, sizeof(s->tls_info),
		    why, sizeof(why)) < 0) {
			log_info("%s", why);
			s->quit = 1;
			return;
		}
		log_info("TLS: %s", s->tls_info);
	}
	if (hook_is_set(s->cfg, HOOK_CONNECT) && !session_ask(s, HOOK_CONNECT)) {
		/* A refused connection: the reply went out; RFC 5321 3.1 lets us
		 * wait for QUIT, but a 4xx/5xx greeting followed by close is what
		 * clients handle best. */
		s->quit = 1;
		return;
	}
	if (s->accept_text[0] != '\0')
		reply(s, "220 %s", s->accept_text);
	else
		reply(s, "220 %s %s", s->cfg->hostname, s->cfg->banner);
}

static void
read_commands(struct session *s)
{
	char line[PATH_LINE_MAX + 1];
	struct smtp_command cmd;

	while (!s->quit) {
		struct timespec deadline = netio_deadline(s->lim->command_timeout);
		size_t len;
		int rc;

		rc = netio_getline(s->io, line, PATH_LINE_MAX, &len, &deadline);
		if (rc == NETIO_TOOLONG) {
			reply(s, "500 5.5.2 Error: line too long (the limit is 512 octets)");
			continue;
		}
		if (rc == NETIO_TIMEOUT) {
			log_info("timeout after %s: disconnecting", s->in_transaction ? "MAIL" : "command");
			reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
			break;
		}
		if (rc == NETIO_ABORT) {
			reply(s, "421 4.3.2 %s Service shutting down, try again later", s->cfg->hostname);
			break;
		}
		if (rc != NETIO_OK) {
			log_info("lost connection%s", s->in_transaction ? " during the transaction" : "");
			break;
		}
		s->bytes_in += (long long)len;
		command_parse(line, len, &cmd);
		if (len + 2 > COMMAND_LINE_MAX && cmd.verb != CMD_MAIL && cmd.verb != CMD_RCPT) {
			reply(s, "500 5.5.2 Error: line too long (the limit is 512 octets)");
			continue;
		}
		/* 8-bit bytes: only in MAIL and RCPT arguments (SMTPUTF8). */
		if (cmd.bad_utf8 && (cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT)) {
			reply(s, "501 5.5.2 Error: bad UTF-8 syntax");
			continue;
		}
		if ((cmd.utf8 || cmd.bad_utf8) && cmd.verb != CMD_MAIL && cmd.verb != CMD_RCPT)
			cmd.verb = CMD_BAD_CHARS;
		if (cmd.verb == CMD_AUTH) {
			log_debug("< AUTH (credentials not logged)");
		} else if (cmd.verb == CMD_UNKNOWN || cmd.verb == CMD_EMPTY) {
			/* could be a client out of step sending credentials */
			log_debug("< (unrecognized command of %zu octets)", len);
		} else if (cmd.verb != CMD_BAD_CHARS && log_debugging()) {
			char clean[640];
			log_sanitize(clean, sizeof(clean), line, len);
			log_debug("< %s", clean);
		}
		dispatch(s, &cmd);
		if (cmd.verb == CMD_AUTH) {
			/* the credentials of AUTH PLAIN/LOGIN ... were in both */
			explicit_bzero(line, sizeof(line));
			netio_wipe_consumed(s->io);
		}
	}
}

void
session_run(const struct config *cfg, const struct tls_server *ts,
    const struct connection *conn, const sigset_t *waitmask, volatile int *abort_flag)
{
	static struct netio io;         /* 32 KiB of buffers, reused */
	const struct endpoint *ep = conn->ep;
	struct session s;
	struct timespec deadline;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.ep = ep;
	s.lim = &ep->limits;
	s.io = &io;
	s.declared_size = -1;
	s.spool.fd = -1;
	s.tls_server = ts;
	netio_init(&io, conn->fd, waitmask, abort_flag);
	io.write_timeout = s.lim->command_timeout;
	new_session_id(s.id, sizeof(s.id));
	log_set_session(s.id);
	netaddr_format((const struct sockaddr *)&conn->client, s.client_addr, sizeof(s.client_addr),
	    &s.client_port);
	netaddr_format((const struct sockaddr *)&conn->server, s.server_addr, sizeof(s.server_addr),
	    &s.server_port);
	log_info("connect from [%s]:%u to %s", s.client_addr, s.client_port, ep->name);
	if (conn->stress) {
		/* As Postfix's stress mode: every worker is busy, so this client
		 * gets short timeouts and no patience for errors. */
		s.stress_limits = ep->limits;
		if (s.stress_limits.command_timeout > 10)
			s.stress_limits.command_timeout = 10;
		if (s.stress_limits.data_timeout > 10)
			s.stress_limits.data_timeout = 10;
		s.stress_limits.max_errors = 1;
		s.lim = &s.stress_limits;
		io.write_timeout = s.stress_limits.command_timeout;
		log_warn("stress mode: all %d workers are busy: timeouts %d s, max_errors 1",
		    cfg->max_workers, s.stress_limits.command_timeout);
	}
	setproctitle("worker %s", s.client_addr);

	if (spool_open(&s.spool, cfg->spool_directory) < 0) {
		log_err("cannot create a spool file in %s: %s (check [server] spool_directory)",
		    cfg->spool_directory, strerror(errno));
		reply(&s, "421 4.3.0 %s Service not available, try again later", cfg->hostname);
	} else {
		greet(&s);
		if (!s.quit)
			read_commands(&s);
	}
	/* The session is over for the per-client count before the last reply
	 * (221) goes out: a client that reconnects at once is not counted twice. */
	if (conn->client_key != NULL)
		memset(conn->client_key, 0, 9);
	deadline = netio_deadline(10);
	netio_flush(&io, &deadline);
	tls_close(&io);
	log_info("disconnect from [%s]:%u messages=%d errors=%d", s.client_addr, s.client_port,
	    s.nmessages, s.errors);
	transaction_reset(&s);
	free(s.rcpts);
	free(s.rcpts_dsn);
	spool_close(&s.spool);
	log_set_session(NULL);
}
