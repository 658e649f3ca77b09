/* SPDX-License-Identifier: ISC */
/*
 * pipeline.c - the step runner (DESIGN.md Part 2, "Named steps and
 * pipelines").  At each stage the endpoint's steps of that stage are asked
 * in pipeline order; the first that refuses or tempfails decides the reply
 * and the rest are not asked.  A step that fails (crash, timeout,
 * unreachable) counts as accepting when its on_error is accept.  Headers
 * that accepting steps prepend are checked and kept for the message; at the
 * data stage each step sees the message as the steps before it left it
 * (message.c), and the message is taken only when every data step accepted.
 *
 * Each kind of step has its runner: exec and policy steps in decision.c,
 * milter steps in milter_step.c.
 */
#include "autoconf.h"
#include "session.h"
#include "decision.h"
#include "hook.h"
#include "header.h"
#include "message.h"
#include "milter_step.h"
#include "pipeline.h"
#include "policy.h"
#include "rcpt_answers.h"
#include "../common/deadline.h"
#include "../common/growbuf.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The steps asked at stage KIND, in order.  Auth: the [hooks] auth step
 * comes first whether the pipeline names it or not. */
int
session_stage_steps(struct session *s, enum hook_kind kind, const struct step **out)
{
	const struct config *c = s->cfg;
	int i, n = 0;

	if (kind == HOOK_AUTH) {
		for (i = 0; i < c->nsteps; i++)
			if (c->steps[i].legacy && c->steps[i].stages == STEP_STAGE(HOOK_AUTH))
				out[n++] = &c->steps[i];
	}
	for (i = 0; i < s->ep->npipeline; i++) {
		const struct step *st = &c->steps[s->ep->pipeline[i]];
		if (!(st->stages & STEP_STAGE(kind)))
			continue;
		if (kind == HOOK_AUTH && st->legacy)
			continue;       /* already first */
		out[n++] = st;
	}
	return n;
}

/* Ask one step; MSG is the message at the data stage, else NULL. */
static void run_step(struct session *, const struct step *, enum hook_kind,
    struct message *, struct hook_result *);

/* postern_step_calls_total and postern_step_duration_seconds (the hook
 * stages and the metrics stages are in the same order). */
void
pipeline_count_step(const struct step *st, enum hook_kind kind, const struct hook_result *res,
    const struct timespec *t0)
{
	enum metrics_step_outcome o;

	if (metrics_shared == NULL)
		return;
	switch (res->verdict) {
	case HOOK_ACCEPT: o = STEP_ACCEPT; break;
	case HOOK_REJECT: o = STEP_REJECT; break;
	case HOOK_TEMPFAIL: o = STEP_TEMPFAIL; break;
	default: o = res->timed_out ? STEP_TIMEOUT : STEP_ERROR; break;
	}
	metrics_step(metrics_shared, metrics_find_step(metrics_shared, st->name),
	    (enum metrics_stage)kind, o, monotonic_since(t0));
}

void
pipeline_run_step(struct session *s, const struct step *st, enum hook_kind kind,
    struct message *msg, struct hook_result *res)
{
	struct timespec t0;

	scoreboard_status_step(st->name);
	if (metrics_shared == NULL) {
		run_step(s, st, kind, msg, res);
	} else {
		t0 = monotonic_now();
		run_step(s, st, kind, msg, res);
		pipeline_count_step(st, kind, res, &t0);
	}
	scoreboard_status_step(NULL);
}

static void
run_step(struct session *s, const struct step *st, enum hook_kind kind,
    struct message *msg, struct hook_result *res)
{
	char self[64];
	int ro = -1, fd;

	switch (st->kind) {
	case STEP_MILTER:
		milter_step_run(s, st, kind, msg, res);
		return;
	case STEP_POLICY:
		/* the message goes from where it is, memory or file */
		session_policy(s, st, kind, NULL, msg, res);
		return;
	case STEP_EXEC:
		if (msg == NULL) {
			session_hook(s, st, kind, -1, NULL, 0, res);
			return;
		}
		/* An exec hook reads the message through its own read-only
		 * descriptor: it cannot write into it, nor move our offset.
		 * session_deliver put the message in a file already. */
		if ((fd = message_fd(msg)) < 0) {
			log_err("%s: cannot write the message to the spool file: %s", s->queue_id,
			    strerror(errno));
			hook_result_init(res);
			res->verdict = HOOK_TEMPFAIL;
			res->exit_status = 75;
			return;
		}
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		ro = open(self, O_RDONLY | O_CLOEXEC);
		session_hook(s, st, kind, ro >= 0 ? ro : fd, s->rcpts, s->rcpts_len, res);
		if (ro >= 0)
			close(ro);
		return;
	}
}

/* A failed step whose on_error is accept: go on. */
static int
failure_accepted(const struct step *st, struct hook_result *res)
{
	if (res->verdict != HOOK_FAILED || !st->on_error_accept)
		return 0;
	log_warn("hook %s: failed; on_error = accept: going on without it", st->name);
	res->verdict = HOOK_ACCEPT;
	res->reply[0] = '\0';
	return 1;
}

static int
headers_append(struct step_headers *h, const char *line, size_t len)
{
	if (growbuf_reserve(&h->p, &h->cap, h->len + len + 1, 1024) < 0)
		return -1;
	memcpy(h->p + h->len, line, len);
	h->len += len;
	h->p[h->len++] = '\n';
	return 0;
}

/* The headers of an accepting step: each checked, the bad ones logged and
 * dropped; the good ones into H (before the message) or M (data stage). */
static void
take_headers(const struct step *st, const struct hook_result *res, struct step_headers *h,
    struct message *m)
{
	const char *p = res->prepend, *end = res->prepend + res->prepend_len;
	char clean[400];

	if (res->prepend_lost)
		log_warn("hook %s: more headers than fit in 8 KiB: the rest are dropped", st->name);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);
		const char *why = header_check(p, len);
		int rc;

		if (why != NULL) {
			log_sanitize(clean, sizeof(clean), p, len < 80 ? len : 80);
			log_warn("hook %s: header not added (%s): %s%s", st->name, why, clean, len > 80 ? "..." : "");
		} else {
			rc = m != NULL ? message_add_header(m, p, len) : headers_append(h, p, len);
			if (rc < 0)
				log_err("hook %s: out of memory: header not added", st->name);
		}
		p = nl + 1;
	}
}

void
session_headers_clear(struct session *s, int which)
{
	s->hdrs[which].len = 0;
}

void
session_headers_free(struct session *s)
{
	int i;

	for (i = 0; i < 3; i++) {
		free(s->hdrs[i].p);
		memset(&s->hdrs[i], 0, sizeof(s->hdrs[i]));
	}
}

/* "250 2.1.5 <bob>: welcome" -> "<bob>: welcome": the caller's reply has
 * its own code and enhanced code (the greeting and EHLO have none). */
static void
accept_text(struct session *s, const char *text)
{
	size_t n = strspn(text, "0123456789.");

	if (n >= 5 && text[0] == '2' && text[1] == '.' && text[n] == ' ')
		text += n + 1;
	strlcpy(s->accept_text, text, sizeof(s->accept_text));
}

static int
headers_for(enum hook_kind kind)
{
	return kind == HOOK_CONNECT ? HDRS_CONNECT : kind == HOOK_HELO ? HDRS_HELO : HDRS_TXN;
}

int
session_ask(struct session *s, enum hook_kind kind)
{
	const struct step *steps[CONFIG_MAX_STEPS + 1];
	struct step_headers *h = &s->hdrs[headers_for(kind)];
	struct hook_result res;
	size_t mark;
	int n, i;

	s->accept_text[0] = '\0';
	if (kind == HOOK_HELO)
		session_headers_clear(s, HDRS_HELO);    /* a new EHLO: the last one's are void */
	mark = h->len;
	n = session_stage_steps(s, kind, steps);
	for (i = 0; i < n; i++) {
		pipeline_run_step(s, steps[i], kind, NULL, &res);
		if (res.verdict != HOOK_ACCEPT && !failure_accepted(steps[i], &res)) {
			h->len = mark;          /* a refused command adds nothing */
			session_refuse(s, kind, &res);
			return 0;
		}
		if (res.reply[0] == '2' && res.reply[3] == ' ')
			accept_text(s, res.reply + 4);
		if (kind != HOOK_AUTH)
			take_headers(steps[i], &res, h, NULL);
	}
	return 1;
}

/* The headers from before DATA, in the order their steps ran. */
static int
message_prepare(struct session *s, struct message *m)
{
	int i, n;

	for (i = 0; i < 3; i++) {
		const char *p = s->hdrs[i].p, *end = p + s->hdrs[i].len;
		while (p != NULL && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (message_add_header(m, p, (size_t)(nl - p)) < 0)
				return -1;
			p = nl + 1;
		}
	}
	/* RFC 8601 5: nobody downstream may take a forged result for ours */
	n = message_strip_ar(m, s->cfg->authserv_id);
	if (n > 0)
		log_info("%s: removed %d Authentication-Results field%s with our authserv-id %s",
		    s->queue_id, n, n > 1 ? "s" : "", s->cfg->authserv_id);
	return n < 0 ? -1 : 0;
}

static void
local_error(struct session *s, struct hook_result *res, const char *what)
{
	log_err("%s: %s in %s: %s", s->queue_id, what, s->cfg->spool_directory, strerror(errno));
	hook_result_init(res);
	res->verdict = HOOK_TEMPFAIL;
	res->exit_status = 75;
	strlcpy(res->reply, "451 4.3.0 Error: local error writing the message, try again later",
	    sizeof(res->reply));
}

/* An exec step reads the message from a file (its stdin); persistent
 * steps and milters are sent it from memory. */
static int
needs_file(const struct step *const *steps, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (steps[i]->kind == STEP_EXEC)
			return 1;
	return 0;
}

/*
 * The data stage.  RES is the answer: accept (with the reply text of the
 * last step that gave one) only when every data step accepted and at least
 * one of them did so for real (on_error = accept is no store); else the
 * result of the step that decided, named in *DECIDER.
 */
int
session_deliver(struct session *s, struct hook_result *res, const char **decider)
{
	const struct step *steps[CONFIG_MAX_STEPS + 1];
	char reply[sizeof(res->reply)] = "";
	struct message m;
	int n, i, taken = 0;

	*decider = "data";
	message_begin(&m, &s->spool, s->cfg->data_crlf, s->cfg->spool_directory);
	if (message_prepare(s, &m) < 0) {
		local_error(s, res, "cannot prepare the message");
		message_end(&m);
		return 0;
	}
	n = session_stage_steps(s, HOOK_DATA, steps);
	if (needs_file(steps, n) && message_fd(&m) < 0) {
		local_error(s, res, "cannot write the message to the spool file");
		message_end(&m);
		return 0;
	}
	if (rcpt_table_begin(s) < 0) {
		local_error(s, res, "out of memory");
		message_end(&m);
		return 0;
	}
	for (i = 0; i < n && milter_step_discarded() == NULL; i++) {
		int took, open, passed;
		*decider = steps[i]->name;
		if (message_materialise(&m) < 0) {
			local_error(s, res, "cannot write the message with its new headers");
			rcpt_table_refuse_open(s, res);
			break;
		}
		rcpt_sink_arm();
		pipeline_run_step(s, steps[i], HOOK_DATA, &m, res);
		rcpt_sink_disarm();
		if (milter_step_discarded() != NULL)
			break;
		passed = res->verdict != HOOK_ACCEPT && failure_accepted(steps[i], res);
		open = rcpt_table_step(s, steps[i]->name, res, &took);
		/* rcpt_answers.c: the first refusal a recipient gets is final;
		 * SMTP has one reply for all, so a refusal ends it there */
		if (open == 0 || (s->ep->protocol != PROTO_LMTP && rcpt_table_refused() > 0))
			break;
		if (took && !passed && steps[i]->kind != STEP_MILTER)
			taken = 1;
		if (res->verdict == HOOK_ACCEPT && hook_result_has_reply(res))
			strlcpy(reply, res->reply, sizeof(reply));
		take_headers(steps[i], res, NULL, &m);
	}
	message_end(&m);
	if (milter_step_discarded() != NULL) {
		/* a milter discarded it (at any stage): 250, nothing stored */
		hook_result_init(res);
		res->verdict = HOOK_ACCEPT;
		res->exit_status = 0;
		snprintf(res->reply, sizeof(res->reply), "250 2.0.0 Ok: discarded by %s",
		    milter_step_discarded());
		rcpt_table_accept_open(res->reply);
		return 1;
	}
	if (i == n && !taken) {
		log_warn("%s: no data step took the message (all failed with on_error = accept): temporary failure",
		    s->queue_id);
		hook_result_init(res);
		rcpt_table_refuse_open(s, res);
	}
	rcpt_table_accept_open(reply);
	if (!rcpt_table_collapse(res))
		return 0;
	strlcpy(res->reply, reply, sizeof(res->reply));
	return 1;
}
