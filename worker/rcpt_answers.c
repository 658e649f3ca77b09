/* SPDX-License-Identifier: ISC */
/*
 * rcpt_answers.c - per-recipient answers of the data steps.  A data step may
 * answer each recipient on its own (an exec step: "RCPT ADDRESS NNN text"
 * lines before its reply line; a policy step: "rcpt_action=ADDRESS NNN text"
 * attributes before action=).  The sink collects the lines of the step being
 * run; the table keeps, per recipient, the first refusal any data step gave
 * it.  Recipients a step does not name get its overall answer.  The worker
 * runs one session at a time: both live here, not in the session.
 */
#include "autoconf.h"
#include "rcpt_answers.h"
#include "decision.h"
#include "hook.h"
#include "session.h"
#include "../common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The recipients are those the client was given 250 for at RCPT, as they
 * were when the data stage began: a milter's edits may change the session's
 * list, never the number of replies an LMTP client waits for. */
static struct {
	struct rcpt_answer *a;  /* code 0: open (no answer yet), 2xx: accepted with own text */
	int n, refused;
	char *rcpts;            /* "a@b\n" each */
	size_t rcpts_len;
} table;

enum rcpt_answer_error
rcpt_answer_parse(const char *line, size_t len, const char *rcpts, size_t rcpts_len,
    struct rcpt_answer *out)
{
	const char *p = rcpts, *end = rcpts + rcpts_len, *t;
	size_t best = 0, skip = 0, tl, i, span;
	int idx = 0, code;

	if (len > 0 && line[0] == '<')
		skip = 1;
	out->index = -1;
	for (; p < end; idx++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		size_t after = skip + l + (skip ? 1 : 0);
		if (l > best && len > after && memcmp(line + skip, p, l) == 0 &&
		    (!skip || line[skip + l] == '>') && line[after] == ' ') {
			best = l;
			out->index = idx;
		}
		p += l + 1;
	}
	if (out->index < 0)
		return RA_NO_RCPT;
	t = line + skip + best + (skip ? 1 : 0) + 1;
	tl = len - (size_t)(t - line);
	if (tl < 3 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] < '0' || t[1] > '9' ||
	    t[2] < '0' || t[2] > '9' || (tl > 3 && t[3] != ' '))
		return RA_BAD_CODE;
	code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
	for (i = 0; i < tl; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] > 0x7e)
			return RA_BAD_TEXT;
	out->code = code;
	t += 3;
	tl -= 3;
	while (tl > 0 && *t == ' ') {
		t++;
		tl--;
	}
	/* "X.Y.Z" of the code's class (RFC 3463), else a default one */
	for (span = 0; span < tl && ((t[span] >= '0' && t[span] <= '9') || t[span] == '.'); span++)
		;
	if (span >= 5 && t[0] == (char)('0' + code / 100) && t[1] == '.' && (span == tl || t[span] == ' '))
		snprintf(out->reply, sizeof(out->reply), "%d %.*s", code, (int)(tl > 480 ? 480 : tl), t);
	else if (tl > 0)
		snprintf(out->reply, sizeof(out->reply), "%d %d.0.0 %.*s", code, code / 100,
		    (int)(tl > 470 ? 470 : tl), t);
	else
		snprintf(out->reply, sizeof(out->reply), "%d %d.0.0 %s", code, code / 100,
		    code < 300 ? "Ok" : "Error: refused for this recipient");
	return RA_OK;
}

int
rcpt_table_begin(const struct session *s)
{
	rcpt_table_end();
	table.n = s->nrcpts;
	table.rcpts_len = s->rcpts != NULL ? s->rcpts_len : 0;
	table.a = calloc(table.n > 0 ? (size_t)table.n : 1, sizeof(*table.a));
	table.rcpts = malloc(table.rcpts_len + 1);
	if (table.a == NULL || table.rcpts == NULL) {
		rcpt_table_end();
		return -1;
	}
	if (table.rcpts_len > 0)
		memcpy(table.rcpts, s->rcpts, table.rcpts_len);
	table.rcpts[table.rcpts_len] = '\0';
	return 0;
}

void
rcpt_table_end(void)
{
	free(table.a);
	free(table.rcpts);
	table.a = NULL;
	table.rcpts = NULL;
	table.n = table.refused = 0;
	table.rcpts_len = 0;
}

const char *
rcpt_table_rcpts(int *n)
{
	*n = table.n;
	return table.rcpts;
}

/* The step's own lines into OWN (one per recipient, the first wins). */
static void
take_lines(const char *name, struct rcpt_answer *own)
{
	static const char *const why[] = { "", "not a recipient of this message",
		"no 2xx, 4xx or 5xx code after the address", "control or 8-bit bytes in the text" };
	size_t len;
	int lost;
	const char *p = rcpt_sink_lines(&len, &lost), *end = p + len;
	struct rcpt_answer a;
	char clean[200];

	if (lost > 0)
		log_warn("hook %s: more per-recipient answers than fit in %d KiB: %d dropped (those "
		    "recipients get the step's overall answer)", name, RCPT_ANSWERS_MAX / 1024, lost);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)(nl - p);
		enum rcpt_answer_error e = rcpt_answer_parse(p, l, table.rcpts, table.rcpts_len, &a);
		if (e != RA_OK) {
			log_sanitize(clean, sizeof(clean), p, l < 120 ? l : 120);
			log_warn("hook %s: per-recipient answer ignored (%s): %s", name, why[e], clean);
		} else if (a.index < table.n && own[a.index].code == 0) {
			own[a.index] = a;
		}
		p = nl + 1;
	}
}

int
rcpt_table_step(const struct session *s, const char *name, const struct hook_result *res,
    int *took)
{
	struct rcpt_answer *own;
	char overall[RCPT_REPLY_MAX];
	int i, open = 0;

	*took = 0;
	if (table.a == NULL)
		return 0;
	overall[0] = '\0';
	if (res->verdict != HOOK_ACCEPT)
		session_refusal_text(HOOK_DATA, res, overall, sizeof(overall));
	/* the step's own lines, when it gave any (most steps do not) */
	if (rcpt_sink_pending()) {
		if ((own = calloc((size_t)table.n + 1, sizeof(*own))) == NULL) {
			log_err("hook %s: out of memory for the per-recipient answers", name);
			rcpt_table_refuse_open(s, res);
			return 0;
		}
		take_lines(name, own);
	} else {
		own = NULL;
	}
	for (i = 0; i < table.n; i++) {
		struct rcpt_answer *t = &table.a[i];
		if (t->code >= 300)
			continue;       /* refused by an earlier step: its answer stands */
		if (own != NULL && own[i].code != 0) {
			*t = own[i];
		} else if (overall[0] != '\0') {
			t->code = atoi(overall);
			strlcpy(t->reply, overall, sizeof(t->reply));
		}
		if (t->code >= 300)
			table.refused++;
		else {
			*took = 1;
			open++;
		}
	}
	free(own);
	return open;
}

void
rcpt_table_refuse_open(const struct session *s, const struct hook_result *res)
{
	char text[RCPT_REPLY_MAX];
	int i;

	(void)s;
	session_refusal_text(HOOK_DATA, res, text, sizeof(text));
	for (i = 0; table.a != NULL && i < table.n; i++) {
		if (table.a[i].code >= 300)
			continue;
		table.a[i].code = atoi(text);
		strlcpy(table.a[i].reply, text, sizeof(table.a[i].reply));
		table.refused++;
	}
}

void
rcpt_table_accept_open(const char *reply)
{
	int i;

	if (reply[0] != '2' || atoi(reply) < 200 || atoi(reply) > 299)
		return;
	for (i = 0; table.a != NULL && i < table.n; i++) {
		if (table.a[i].code != 0)
			continue;
		table.a[i].code = atoi(reply);
		strlcpy(table.a[i].reply, reply, sizeof(table.a[i].reply));
	}
}

int
rcpt_table_refused(void)
{
	return table.refused;
}

int
rcpt_table_collapse(struct hook_result *res)
{
	int i, first4 = -1, first5 = -1;

	if (table.a == NULL || table.refused == 0)
		return 1;
	for (i = 0; i < table.n; i++) {
		if (table.a[i].code >= 500 && first5 < 0)
			first5 = i;
		else if (table.a[i].code >= 400 && table.a[i].code < 500 && first4 < 0)
			first4 = i;
	}
	if (table.refused < table.n) {
		/* the deciding step's own 4xx says it best (postern-forward:
		 * "took 1 of 2 recipients"); a 2xx or 5xx would be wrong here */
		if (res->verdict == HOOK_TEMPFAIL && res->reply[0] == '4')
			return 0;
		res->verdict = HOOK_TEMPFAIL;
		snprintf(res->reply, sizeof(res->reply), "451 4.3.0 Error: %d of %d recipients were "
		    "refused: try again later (the others may get the message twice)",
		    table.refused, table.n);
		return 0;
	}
	i = first4 >= 0 ? first4 : first5;
	res->verdict = i == first4 ? HOOK_TEMPFAIL : HOOK_REJECT;
	strlcpy(res->reply, table.a[i].reply, sizeof(res->reply));
	return 0;
}

const char *
rcpt_table_reply(int i, const char **accept_text)
{
	*accept_text = NULL;
	if (table.a == NULL || i < 0 || i >= table.n)
		return NULL;
	if (table.a[i].code >= 300)
		return table.a[i].reply;
	if (table.a[i].code != 0)
		*accept_text = table.a[i].reply;
	return NULL;
}

int
rcpt_table_active(void)
{
	return table.a != NULL;
}
