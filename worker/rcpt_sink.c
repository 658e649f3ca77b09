/* SPDX-License-Identifier: ISC */
/*
 * rcpt_sink.c - collects the per-recipient lines of the data step being run
 * ("RCPT ..." lines of an exec step, "rcpt_action=" attributes of a policy
 * step) for rcpt_answers.c, which parses and merges them.  Kept apart so
 * that the step runners (hook.c, policy.c) need nothing of the session.
 */
#include "autoconf.h"
#include "rcpt_sink.h"

#include <string.h>

static struct {
	char buf[RCPT_ANSWERS_MAX];
	size_t len;
	int armed, lost;
} sink;

void
rcpt_sink_arm(void)
{
	sink.len = 0;
	sink.lost = 0;
	sink.armed = 1;
}

void
rcpt_sink_disarm(void)
{
	sink.armed = 0;
}

int
rcpt_sink_add(const char *line, size_t len)
{
	if (!sink.armed)
		return -1;
	if (sink.len + len + 1 > sizeof(sink.buf)) {
		sink.lost++;
		return -1;
	}
	memcpy(sink.buf + sink.len, line, len);
	sink.len += len;
	sink.buf[sink.len++] = '\n';
	return 0;
}

void
rcpt_sink_add_policy(const char *answer)
{
	const char *p = answer;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t l = eol != NULL ? (size_t)(eol - p) : strlen(p);
		if (l > 12 && strncmp(p, "rcpt_action=", 12) == 0)
			rcpt_sink_add(p + 12, l - 12);
		p += l + (eol != NULL);
	}
}

int
rcpt_sink_pending(void)
{
	return sink.len > 0 || sink.lost > 0;
}

const char *
rcpt_sink_lines(size_t *len, int *lost)
{
	*len = sink.len;
	*lost = sink.lost;
	return sink.buf;
}
