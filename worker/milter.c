/* SPDX-License-Identifier: ISC */
/*
 * milter.c - the milter client (see milter.h): the connection, option
 * negotiation, reading packets within deadlines, failures turned into the
 * default_action, and the SMTP envelope events.  Replies are read in
 * milter_reply.c, the message content (HEADER .. EOB) is sent by
 * milter_msg.c, the macros by milter_macro.c.
 */
#include "autoconf.h"
#include "milter.h"
#include "sockconnect.h"
#include "../common/log.h"
#include "../common/deadline.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const action_names[] = { "tempfail", "accept", "reject" };

void
milter_init(struct milter *m, const struct milter_settings *set)
{
	memset(m, 0, sizeof(*m));
	m->set = *set;
	m->fd = -1;
	m->state = MILTER_IDLE;
}

const char *
milter_session_reply(const struct milter *m)
{
	return m->session_reply;
}

void
milter_disconnect(struct milter *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->state = MILTER_DONE;
	m->in_msg = 0;
	m->out.len = 0;
}

void
milter_fail(struct milter *m, struct milter_result *res, const char *fmt, ...)
{
	va_list ap;
	enum milter_default act = m->set.default_action;

	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	log_warn("milter %s (%s): %s: default_action %s", m->set.name, m->set.socket,
	    m->why, action_names[act]);
	milter_disconnect(m);
	res->failed = 1;
	if (act == MILTER_DEFAULT_ACCEPT) {
		res->verdict = MILTER_V_PASS;
		return;
	}
	res->verdict = act == MILTER_DEFAULT_REJECT ? MILTER_V_REJECT : MILTER_V_TEMPFAIL;
	strlcpy(res->reply, act == MILTER_DEFAULT_REJECT ? MILTER_REPLY_REJECT : MILTER_REPLY_TEMPFAIL,
	    sizeof(res->reply));
	/* As Postfix: every later command of the session gets this reply. */
	strlcpy(m->session_reply, res->reply, sizeof(m->session_reply));
}

static int
wait_fd(struct milter *m, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { m->fd, events, 0 };
	long ms = deadline_ms_left(deadline);
	int rc;

	if (ms <= 0) {
		snprintf(m->why, sizeof(m->why), "timed out");
		return -1;
	}
	rc = poll(&pfd, 1, (int)ms);
	if (rc < 0 && errno != EINTR) {
		snprintf(m->why, sizeof(m->why), "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
milter_flush(struct milter *m, int timeout)
{
	struct timespec deadline = deadline_in(timeout);
	size_t off = 0;

	while (off < m->out.len) {
		ssize_t n = send(m->fd, m->out.p + off, m->out.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(m->why, sizeof(m->why), "cannot send: %s", strerror(errno));
			return -1;
		}
		if (wait_fd(m, POLLOUT, &deadline) < 0)
			return -1;
	}
	m->out.len = 0;
	m->sent = 1;
	return 0;
}

/* The next packet, by DEADLINE.  -1 with m->why on failure. */
int
milter_read_packet(struct milter *m, const struct timespec *deadline, char *cmd,
    const unsigned char **data, size_t *len)
{
	enum milter_err e;
	size_t used;

	if (m->inskip > 0) {
		memmove(m->in, m->in + m->inskip, m->inlen - m->inskip);
		m->inlen -= m->inskip;
		m->inskip = 0;
	}
	while ((e = milter_frame(m->in, m->inlen, cmd, data, len, &used)) == MILTER_E_SHORT) {
		ssize_t n;

		/* Just sent: the answer is not there yet, wait before reading. */
		if (m->sent && wait_fd(m, POLLIN, deadline) < 0)
			return -1;
		m->sent = 0;
		n = recv(m->fd, m->in + m->inlen, MILTER_MAX_PACKET + 4 - m->inlen, 0);
		if (n > 0) {
			m->inlen += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(m->why, sizeof(m->why), "the milter closed the connection");
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(m->why, sizeof(m->why), "cannot read: %s", strerror(errno));
			return -1;
		}
		if (wait_fd(m, POLLIN, deadline) < 0)
			return -1;
	}
	if (e != MILTER_OK) {
		snprintf(m->why, sizeof(m->why), "%s", milter_strerror(e));
		return -1;
	}
	m->inskip = used;
	return 0;
}

/* Negotiate: OPTNEG out, OPTNEG back.  0, or -1 with m->why. */
static int
negotiate(struct milter *m)
{
	struct timespec deadline = deadline_in(m->set.command_timeout);
	const unsigned char *data;
	enum milter_err e;
	size_t len;
	char cmd;

	m->out.len = 0;
	if (milter_enc_optneg(&m->out, MILTER_VERSION, MILTER_ACTIONS_ALL,
	    MILTER_PFLAGS_OFFERED) < 0 || milter_flush(m, m->set.command_timeout) < 0 ||
	    milter_read_packet(m, &deadline, &cmd, &data, &len) < 0)
		return -1;
	if (cmd != SMFIC_OPTNEG) {
		snprintf(m->why, sizeof(m->why), "reply '%c' to option negotiation", cmd);
		return -1;
	}
	if ((e = milter_dec_optneg(data, len, &m->neg)) != MILTER_OK) {
		snprintf(m->why, sizeof(m->why), "option negotiation: %s (version %u)",
		    milter_strerror(e), (unsigned)m->neg.version);
		return -1;
	}
	if (m->neg.pflags & ~MILTER_PFLAGS_OFFERED)
		log_info("milter %s: ignoring protocol flags 0x%x it asks for but we do not offer",
		    m->set.name, (unsigned)(m->neg.pflags & ~MILTER_PFLAGS_OFFERED));
	m->neg.pflags &= MILTER_PFLAGS_OFFERED;
	m->neg.actions &= MILTER_ACTIONS_ALL;
	if (m->neg.version < 3)
		m->neg.pflags |= SMFIP_NOUNKNOWN;       /* UNKNOWN came with version 3 */
	if (m->neg.version < 4)
		m->neg.pflags |= SMFIP_NODATA;  /* and DATA with version 4 */
	milter_macros_prepare(m);
	log_debug("milter %s: version %u, actions 0x%x, protocol 0x%x", m->set.name,
	    (unsigned)m->neg.version, (unsigned)m->neg.actions, (unsigned)m->neg.pflags);
	return 0;
}

/* Start an event: 1 if it is to be sent (its macros are then appended to
 * m->out, after any events held there), else 0 (RES is then PASS or the
 * failure). */
static int
begin(struct milter *m, char cmd, uint32_t noflag, const struct milter_macros *mm,
    struct milter_result *res)
{
	memset(res, 0, sizeof(*res));
	res->verdict = MILTER_V_PASS;
	if (m->state != MILTER_OPEN)
		return 0;
	if (m->fd < 0) {        /* lost while sending held events */
		milter_fail(m, res, "%s", m->why);
		return 0;
	}
	if (m->neg.pflags & noflag)
		return 0;
	if (milter_put_macros(m, cmd, mm) < 0) {
		milter_fail(m, res, "out of memory");
		return 0;
	}
	return 1;
}

/*
 * The event begin() and the encoder (ENC: its result) appended to m->out.
 * An event the milter does not answer (NRFLAG negotiated) is held there
 * and goes in one write with the next (see milter.h); else everything held
 * is sent now and the reply read within TIMEOUT seconds (edits, after EOB
 * only, to EDITS).
 */
enum milter_await
milter_send(struct milter *m, char cmd, int enc, uint32_t nrflag, int timeout,
    struct milter_edits *edits, struct milter_result *res)
{
	int noreply = (m->neg.pflags & nrflag) != 0;

	if (enc < 0) {
		milter_fail(m, res, "cannot encode '%c' (out of memory)", cmd);
		return MILTER_AW_DONE;
	}
	if ((!noreply || m->out.len >= MILTER_HOLD_MAX) && milter_flush(m, timeout) < 0) {
		milter_fail(m, res, "sending '%c': %s", cmd, m->why);
		return MILTER_AW_DONE;
	}
	if (noreply)
		return MILTER_AW_CONTINUE;
	return milter_await(m, cmd, timeout, edits, res);
}

static enum milter_await
finish(struct milter *m, char cmd, int enc, uint32_t nrflag, struct milter_result *res)
{
	return milter_send(m, cmd, enc, nrflag, m->set.command_timeout, NULL, res);
}

int
milter_pending(const struct milter *m)
{
	return m->fd >= 0 && m->out.len > 0;
}

/* Events held and no reply awaited: the failure shows at the next event
 * (begin() finds the connection gone). */
static void
lost(struct milter *m, const char *what)
{
	log_warn("milter %s: sending %s: %s", m->set.name, what, m->why);
	close(m->fd);
	m->fd = -1;
	m->out.len = 0;
}

void
milter_send_pending(struct milter *m)
{
	if (milter_pending(m) && milter_flush(m, m->set.command_timeout) < 0)
		lost(m, "held events");
}

void
milter_connect(struct milter *m, const struct milter_macros *mm,
    const char *hostname, char family, unsigned port, const char *addr,
    struct milter_result *res)
{
	struct timespec deadline = deadline_in(m->set.connect_timeout);
	char why[200];
	int enc;

	memset(res, 0, sizeof(*res));
	if (m->state != MILTER_IDLE)
		return;
	if (m->in == NULL && (m->in = malloc(MILTER_MAX_PACKET + 4)) == NULL) {
		milter_fail(m, res, "out of memory");
		return;
	}
	if ((m->fd = sock_connect(m->set.socket, &deadline, why, sizeof(why))) < 0) {
		milter_fail(m, res, "%s", why);
		return;
	}
	if (negotiate(m) < 0) {
		milter_fail(m, res, "%s", m->why);
		return;
	}
	m->state = MILTER_OPEN;
	if (!begin(m, SMFIC_CONNECT, SMFIP_NOCONNECT, mm, res))
		return;
	enc = milter_enc_connect(&m->out, hostname, family, port, addr);
	switch (finish(m, SMFIC_CONNECT, enc, SMFIP_NR_CONN, res)) {
	case MILTER_AW_ACCEPT:
		m->state = MILTER_DONE;         /* accepts the whole session */
		break;
	case MILTER_AW_DONE:
		if (!res->failed && res->verdict != MILTER_V_PASS) {
			/* Refused at CONNECT: so is the whole session; the
			 * connection stays for the QUIT. */
			strlcpy(m->session_reply, res->reply, sizeof(m->session_reply));
			m->state = MILTER_DONE;
		}
		break;
	default:
		break;
	}
}

void
milter_helo(struct milter *m, const struct milter_macros *mm, const char *helo,
    struct milter_result *res)
{
	int enc;

	if (!begin(m, SMFIC_HELO, SMFIP_NOHELO, mm, res))
		return;
	enc = milter_enc_helo(&m->out, helo);
	if (finish(m, SMFIC_HELO, enc, SMFIP_NR_HELO, res) == MILTER_AW_ACCEPT)
		m->state = MILTER_DONE;
}

/* MAIL or RCPT. */
/* After an envelope or DATA event: the milter has no more to say about
 * this message when it accepted it, or discarded it. */
static void
message_done_if(struct milter *m, enum milter_await answer, const struct milter_result *res)
{
	if (answer == MILTER_AW_ACCEPT ||
	    (answer == MILTER_AW_DONE && res->verdict == MILTER_V_DISCARD))
		m->state = MILTER_MSG_DONE;
}

static void
envelope(struct milter *m, const struct milter_macros *mm, char cmd,
    const char *const *args, size_t nargs, struct milter_result *res)
{
	uint32_t no = cmd == SMFIC_MAIL ? SMFIP_NOMAIL : SMFIP_NORCPT;
	uint32_t nr = cmd == SMFIC_MAIL ? SMFIP_NR_MAIL : SMFIP_NR_RCPT;
	int enc;

	if (!begin(m, cmd, no, mm, res))
		return;
	enc = nargs > 0 ? milter_enc_envelope(&m->out, cmd, args[0], args + 1, nargs - 1) :
	    milter_enc_envelope(&m->out, cmd, "<>", NULL, 0);
	message_done_if(m, finish(m, cmd, enc, nr, res), res);
}

void
milter_mail(struct milter *m, const struct milter_macros *mm,
    const char *const *args, size_t nargs, struct milter_result *res)
{
	milter_abort(m);
	if (m->state == MILTER_OPEN)
		m->in_msg = 1;
	envelope(m, mm, SMFIC_MAIL, args, nargs, res);
}

void
milter_rcpt(struct milter *m, const struct milter_macros *mm,
    const char *const *args, size_t nargs, struct milter_result *res)
{
	envelope(m, mm, SMFIC_RCPT, args, nargs, res);
}

void
milter_data(struct milter *m, const struct milter_macros *mm,
    struct milter_result *res)
{
	if (!begin(m, SMFIC_DATA, SMFIP_NODATA, mm, res))
		return;
	message_done_if(m, finish(m, SMFIC_DATA, milter_enc_empty(&m->out, SMFIC_DATA),
	    SMFIP_NR_DATA, res), res);
}

void
milter_unknown(struct milter *m, const struct milter_macros *mm,
    const char *line, struct milter_result *res)
{
	if (!begin(m, SMFIC_UNKNOWN, SMFIP_NOUNKNOWN, mm, res))
		return;
	(void)finish(m, SMFIC_UNKNOWN, milter_enc_unknown(&m->out, line), SMFIP_NR_UNKN, res);
}

void
milter_abort(struct milter *m)
{
	if (m->state == MILTER_MSG_DONE)
		m->state = MILTER_OPEN;
	if (m->state != MILTER_OPEN || !m->in_msg || m->fd < 0)
		return;
	m->in_msg = 0;
	/* No reply: held for the next write, as the events it aborts may be. */
	if (milter_enc_empty(&m->out, SMFIC_ABORT) < 0 ||
	    (m->out.len >= MILTER_HOLD_MAX && milter_flush(m, m->set.command_timeout) < 0))
		lost(m, "abort");
}

void
milter_close(struct milter *m)
{
	if (m->fd >= 0) {
		/* QUIT after what is held, in the same write */
		if (milter_enc_empty(&m->out, SMFIC_QUIT) == 0)
			(void)milter_flush(m, m->set.command_timeout < 5 ? m->set.command_timeout : 5);
		close(m->fd);
	}
	m->fd = -1;
	m->state = MILTER_DONE;
	milter_buf_free(&m->out);
	free(m->in);
	m->in = NULL;
	m->inlen = m->inskip = 0;
}
