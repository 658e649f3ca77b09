/* SPDX-License-Identifier: ISC */
/*
 * session.c - the state of one SMTP session: setting it up for a new
 * connection (session id, addresses, stress-mode limits, spool), tearing it
 * down, and the reply writer every command handler uses (RFC 5321 4.2),
 * which also counts the protocol errors that end a session (max_errors).
 * The command loop is in smtp_loop.c.
 */
#include "autoconf.h"
#include "session.h"
#include "tls_session.h"
#include "../common/deadline.h"
#include "../common/scoreboard.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/netaddr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_LINE_MAX 510      /* octets without CRLF (RFC 5321 4.5.3.1.5) */

/* Queue LINE (N octets, cut at the limit; LINE has room for the NUL) and
 * CRLF. */
static void
put_line(struct session *s, char *line, int n)
{
	if (n < 0)
		return;
	if ((size_t)n > REPLY_LINE_MAX)
		n = REPLY_LINE_MAX;
	line[n] = '\0';
	netio_write(s->io, line, (size_t)n);
	netio_write(s->io, "\r\n", 2);
}

/* Send LINE (N octets, code CODE) and count it if it is a protocol error. */
static void
reply_line(struct session *s, int code, char *line, int n)
{
	if (n < 0)
		return;
	put_line(s, line, n);
	if (n < 4 || line[3] != '-')    /* a reply, not each of its lines */
		metrics_reply(metrics_shared, code);
	if (code >= 400)
		log_debug("> %s", log_esc(line));
	switch (code) {
	case 500: case 501: case 502: case 503: case 504: case 530: case 555:
		if (++s->errors >= s->lim->max_errors && !s->quit) {
			char bye[REPLY_LINE_MAX + 1];
			put_line(s, bye, snprintf(bye, sizeof(bye), "421 4.7.0 %s Error: too many errors",
			    s->cfg->hostname));
			metrics_reply(metrics_shared, 421);
			log_info("too many errors (%d): disconnecting", s->errors);
			s->quit = 1;
		}
		break;
	}
}

/* FMT into OUT (OUTLEN octets) by hand when its only conversions are %s
 * (most replies: "Ok", "Ok: queued as %s"): the length, or -1 when FMT has
 * others (vsnprintf does those). */
static int
format_plain(char *out, size_t outlen, const char *fmt, va_list ap)
{
	const char *p;
	size_t o = 0;

	for (p = fmt; (p = strchr(p, '%')) != NULL; p += 2)
		if (p[1] != 's')
			return -1;
	for (p = fmt; *p != '\0'; p++) {
		const char *v;
		size_t l;
		if (*p != '%') {
			if (o + 1 < outlen)
				out[o++] = *p;
			continue;
		}
		v = va_arg(ap, const char *);
		l = strlen(v);
		if (l > outlen - 1 - o)
			l = outlen - 1 - o;
		memcpy(out + o, v, l);
		o += l;
		p++;
	}
	out[o] = '\0';
	return (int)o;
}

/* "CODE ENH text" or "CODE-ENH text" (SEP), ENH left out when NULL. */
static void
reply_format(struct session *s, int code, char sep, const char *enh, const char *fmt, va_list ap)
{
	char line[1024];
	int n = 0, m;

	if (code < 100 || code > 999)
		code = 451;     /* never: the callers' codes are constants */
	line[n++] = (char)('0' + code / 100);
	line[n++] = (char)('0' + code / 10 % 10);
	line[n++] = (char)('0' + code % 10);
	line[n++] = sep;
	if (enh != NULL) {
		size_t l = strnlen(enh, 32);
		memcpy(line + n, enh, l);
		n += (int)l;
		line[n++] = ' ';
	}
	if ((m = format_plain(line + n, sizeof(line) - (size_t)n, fmt, ap)) < 0)
		m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	if (m >= (int)sizeof(line) - n)
		m = (int)sizeof(line) - n - 1;  /* cut: put_line cuts at 510 anyway */
	reply_line(s, code, line, n + m);
}

void
smtp_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_format(s, code, ' ', enh, fmt, ap);
	va_end(ap);
}

void
smtp_reply_cont(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_format(s, code, '-', enh, fmt, ap);
	va_end(ap);
}

void
reply(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	reply_line(s, n < 0 ? 0 : atoi(line), line, n);
}

void
session_gone(struct session *s, int rc, const char *timeout_why, const char *lost_why)
{
	if (rc == NETIO_TIMEOUT) {
		if (timeout_why != NULL)
			log_info("timeout %s: disconnecting", timeout_why);
		smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->cfg->hostname);
	} else if (rc == NETIO_ABORT) {
		smtp_reply(s, 421, "4.3.2", "%s Service shutting down, try again later", s->cfg->hostname);
	} else if (lost_why != NULL) {
		log_info("lost connection%s", lost_why);
	}
	s->quit = 1;
}

void
session_close_421(struct session *s, const char *why)
{
	smtp_reply(s, 421, "4.7.0", "%s Error: %s", s->cfg->hostname, why);
	s->quit = 1;
}

/* 12 characters from 31, uniform: one arc4random_buf (libbsd asks the
 * kernel for the pid at every call, to notice a fork), bytes of 248 and
 * above skipped (248 = 8 * 31). */
static void
new_session_id(char *id, size_t len)
{
	static const char alphabet[] = "0123456789BCDFGHJKLMNPQRSTVWXYZ";
	const unsigned n = sizeof(alphabet) - 1;
	unsigned char r[32];
	size_t i, j = 0;

	arc4random_buf(r, sizeof(r));
	for (i = 0; i + 1 < len && i < 12; i++) {
		while (j < sizeof(r) && r[j] >= 256 / n * n)
			j++;
		id[i] = alphabet[j < sizeof(r) ? r[j++] % n : arc4random_uniform(n)];
	}
	id[i] = '\0';
}

/* As Postfix's stress mode: every worker is busy, so this client gets short
 * timeouts and no patience for errors or junk commands. */
void
session_stress(struct session *s)
{
	s->stress_limits = s->ep->limits;
	if (s->stress_limits.command_timeout > 10)
		s->stress_limits.command_timeout = 10;
	if (s->stress_limits.data_timeout > 10)
		s->stress_limits.data_timeout = 10;
	s->stress_limits.max_errors = 1;
	if (s->stress_limits.max_junk_commands == 0 || s->stress_limits.max_junk_commands > 1)
		s->stress_limits.max_junk_commands = 1;
	s->lim = &s->stress_limits;
	s->stress = 1;
	netio_set_write_timeout(s->io, s->stress_limits.command_timeout);
	log_warn("stress mode: all %d workers are busy: timeouts %d s, max_errors 1, max_junk_commands 1",
	    s->cfg->max_workers, s->stress_limits.command_timeout);
}

void
session_open(struct session *s, const struct config *cfg, const struct tls_server *ts,
    const struct connection *conn, struct netio *io)
{
	const struct endpoint *ep = conn->ep;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->ep = ep;
	s->lim = &ep->limits;
	s->io = io;
	s->declared_size = -1;
	s->spool.fd = -1;
	s->tls_server = ts;
	netio_set_write_timeout(io, s->lim->command_timeout);
	new_session_id(s->id, sizeof(s->id));
	log_set_session(s->id);
	netaddr_format((const struct sockaddr *)&conn->client, s->client_addr,
	    sizeof(s->client_addr), &s->client_port);
	netaddr_format((const struct sockaddr *)&conn->server, s->server_addr,
	    sizeof(s->server_addr), &s->server_port);
	fcrdns_lookup(cfg, (const struct sockaddr *)&conn->client, &s->dns);    /* bounded */
	log_info("connect from %s[%s]:%u to %s%s%s%s", fcrdns_name(&s->dns),
	    s->client_addr, s->client_port, ep->name, s->dns.note[0] ? " (" : "", s->dns.note,
	    s->dns.note[0] ? ")" : "");
	s->sb = conn->sb;
	s->limit_exempt = conn->exempt;
	scoreboard_client_key((const struct sockaddr *)&conn->client, s->rate_key);
	if (conn->stress)
		session_stress(s);
	metrics_session(metrics_shared, metrics_find_endpoint(metrics_shared, ep->name));
	scoreboard_status_session(ep->name, s->client_addr);
	setproctitle("worker %s", s->client_addr);
}

void
session_flush_last(struct session *s, const struct connection *conn)
{
	struct timespec deadline;

	/* The session is over for the per-client count before the last reply
	 * (221) goes out: a client that reconnects at once is not counted twice. */
	if (conn->client_key != NULL)
		memset(conn->client_key, 0, SB_KEY_LEN);
	deadline = deadline_in(10);
	netio_flush(s->io, &deadline);
}

void
session_disconnect(struct session *s)
{
	tls_close(s->io);
	log_info("disconnect from [%s]:%u messages=%d errors=%d", s->client_addr, s->client_port,
	    s->nmessages, s->errors);
	if (metrics_shared != NULL && s->bytes_in > 0)
		metrics_add(metrics_shared, &metrics_shared->received_bytes, (uint64_t)s->bytes_in);
}

void
session_free(struct session *s)
{
	free(s->rcpts);
	free(s->rcpts_dsn);
	spool_close(&s->spool);
	scoreboard_status_session(NULL, NULL);
	log_set_session(NULL);
}
