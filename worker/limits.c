/* SPDX-License-Identifier: ISC */
/*
 * limits.c - what one session may cost the pool (issue 13, finding 2).
 *
 * Junk commands: NOOP, RSET, VRFY, EXPN and HELP move nothing forward; after
 * max_junk_commands of them (counted from the last accepted message) the
 * session gets 421 4.7.0 (Postfix smtpd_junk_command_limit).
 *
 * Stress: once every worker of the pool is busy, each session, the running
 * ones included, switches to Postfix's stress-mode limits (command and data
 * timeouts of at most 10 s, one protocol error, one junk command).  A
 * session reads the scoreboard before a command (at most once a second: a
 * read scans every slot, which cost more than half of a worker's
 * instructions per message when done before each command) and every
 * STRESS_POLL seconds while it waits for one, so a client that sends a
 * command every few minutes cannot hold its worker once the pool is full.
 * A session stays in stress mode once it entered it.
 *
 * BDAT: a chunk outside a transaction, or one that would take the message
 * past max_message_size, is refused without reading its declared octets.
 * Octets that are not read cannot be skipped safely (what follows would be
 * read as commands), so the session then ends with 421 4.7.0, unless every
 * one of them had already arrived (a pipelining client): those are dropped
 * and the session goes on.
 */
#include "autoconf.h"
#include "limits.h"
#include "session.h"
#include "../common/deadline.h"
#include "../common/log.h"
#include "../common/scoreboard.h"

#include <time.h>

#define STRESS_POLL 5           /* seconds between stress checks while waiting */

static time_t stress_checked;   /* the monotonic second this worker last read the scoreboard */

static void
check_stress(struct session *s)
{
	time_t now;

	if (s->stress || s->sb == NULL)
		return;
	if ((now = monotonic_now().tv_sec) == stress_checked)
		return;
	stress_checked = now;
	if (scoreboard_count_busy(s->sb) >= s->cfg->max_workers)
		session_stress(s);
}

int
limits_getline(struct session *s, char *line, size_t max, size_t *len)
{
	struct timespec start = monotonic_now();

	for (;;) {
		/* again each time: stress mode shortens command_timeout */
		struct timespec end = start, deadline;
		int last, rc;

		deadline_extend(&end, s->lim->command_timeout);
		last = deadline_ms_left(&end) <= STRESS_POLL * 1000L;
		deadline = last ? end : deadline_in(STRESS_POLL);
		rc = netio_getline(s->io, line, max, len, &deadline);
		if (rc != NETIO_TIMEOUT)
			return rc;
		if (last)
			return NETIO_TIMEOUT;
		check_stress(s);
	}
}

static int
is_junk(enum smtp_verb verb)
{
	return verb == CMD_NOOP || verb == CMD_RSET || verb == CMD_VRFY ||
	    verb == CMD_EXPN || verb == CMD_HELP;
}

int
limits_command(struct session *s, enum smtp_verb verb)
{
	check_stress(s);
	if (s->nmessages != s->junk_since) {
		s->junk = 0;            /* a message went through: a fresh count */
		s->junk_since = s->nmessages;
	}
	if (!is_junk(verb) || s->lim->max_junk_commands == 0)
		return 0;
	if (++s->junk <= s->lim->max_junk_commands)
		return 0;
	log_info("too many junk commands (%d, limit %d%s): disconnecting", s->junk,
	    s->lim->max_junk_commands, s->stress ? ", stress mode" : "");
	session_close_421(s, "too many commands that move nothing forward");
	return -1;
}

int
limits_bdat(struct session *s, unsigned long long n, int replies)
{
	long long max = s->lim->max_message_size, have = s->chunking ? s->chunk_reader.size : 0;

	if (s->in_transaction && (max == 0 || n <= (unsigned long long)(max - have)))
		return LIMITS_BDAT_READ;
	if (!s->in_transaction) {
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return LIMITS_BDAT_REFUSED;
	}
	log_info("reject: BDAT of %llu octets: the message would pass the limit of %lld bytes",
	    n, max);
	do
		smtp_reply(s, 552, "5.3.4", "Error: message too big (the limit is %lld bytes)", max);
	while (--replies > 0);
	return LIMITS_BDAT_TOO_BIG;
}

void
limits_bdat_drop(struct session *s, unsigned long long n)
{
	size_t buffered = s->io->rend - s->io->rstart;

	if (n <= buffered) {
		netio_consume(s->io, (size_t)n);
		s->bytes_in += (long long)n;
		return;
	}
	log_info("BDAT of %llu octets refused unread: disconnecting", n);
	session_close_421(s, "closing the connection (the refused chunk was not read)");
}
