/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - the shared counters of `[metrics]` and their Prometheus text
 * rendering (metrics.h says who writes and who reads what).
 */
#include "autoconf.h"
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

const double metrics_bucket_bounds[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

static const char *const stage_names[MSTAGE_STAGES] = {
	"connect", "helo", "auth", "mail", "rcpt", "data",
};
static const char *const step_outcomes[STEP_OUTCOMES] = {
	"accept", "reject", "tempfail", "timeout", "error",
};
static const char *const msg_outcomes[MSG_OUTCOMES] = {
	"accepted", "rejected", "tempfailed", "discarded",
};
static const char *const tls_results[TLS_RESULTS] = { "full", "resumed", "failed" };
static const char *const auth_results[AUTH_RESULTS] = { "success", "failure" };

struct metrics *metrics_shared;

struct metrics *
metrics_create(void)
{
	struct metrics *m;

	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

/* The index of NAME in a table of N entries of SIZE bytes each, each
 * starting with its name; with ADD, the first free entry takes it.  Any
 * worker can write the table: an entry's name need not be NUL-terminated,
 * so every compare is bounded by METRICS_NAME_MAX (NAME itself is shorter,
 * so a match includes the entry's terminating NUL). */
static int
find_name(const void *table, size_t n, size_t size, const char *name, int add)
{
	const char *p = table;
	size_t len = strnlen(name, METRICS_NAME_MAX);

	if (len == 0 || len >= METRICS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++, p += size) {
		if (memcmp(p, name, len + 1) == 0)
			return (int)i;
		if (p[0] == '\0') {
			if (!add)
				return -1;
			memcpy((char *)p, name, len + 1);
			return (int)i;
		}
	}
	return -1;
}

int
metrics_register_endpoint(struct metrics *m, const char *name)
{
	return find_name(m->endpoints, METRICS_ENDPOINTS, sizeof(m->endpoints[0]), name, 1);
}

int
metrics_register_step(struct metrics *m, const char *name)
{
	return find_name(m->steps, METRICS_STEPS, sizeof(m->steps[0]), name, 1);
}

int
metrics_find_endpoint(const struct metrics *m, const char *name)
{
	return m == NULL ? -1 :
	    find_name(m->endpoints, METRICS_ENDPOINTS, sizeof(m->endpoints[0]), name, 0);
}

int
metrics_find_step(const struct metrics *m, const char *name)
{
	return m == NULL ? -1 :
	    find_name(m->steps, METRICS_STEPS, sizeof(m->steps[0]), name, 0);
}

void
metrics_add(struct metrics *m, uint64_t *counter, uint64_t n)
{
	if (m != NULL)
		__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

void
metrics_session(struct metrics *m, int ep)
{
	if (m != NULL && ep >= 0 && ep < METRICS_ENDPOINTS)
		metrics_add(m, &m->endpoints[ep].sessions, 1);
}

void
metrics_message(struct metrics *m, int ep, enum metrics_outcome o)
{
	if (m != NULL && ep >= 0 && ep < METRICS_ENDPOINTS && o < MSG_OUTCOMES)
		metrics_add(m, &m->endpoints[ep].messages[o], 1);
}

void
metrics_reply(struct metrics *m, int code)
{
	if (m != NULL && code >= 200 && code <= 599)
		metrics_add(m, &m->replies[code / 100], 1);
}

void
metrics_step(struct metrics *m, int step, enum metrics_stage stage,
    enum metrics_step_outcome o, double seconds)
{
	struct metrics_step *s;
	int b = 0;

	if (m == NULL || step < 0 || step >= METRICS_STEPS ||
	    stage >= MSTAGE_STAGES || o >= STEP_OUTCOMES)
		return;
	s = &m->steps[step];
	while (b < METRICS_BUCKETS && seconds > metrics_bucket_bounds[b])
		b++;
	metrics_add(m, &s->calls[stage][o], 1);
	if (b < METRICS_BUCKETS)
		metrics_add(m, &s->buckets[stage][b], 1);
	metrics_add(m, &s->sum_us[stage], seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

/* ---- rendering ---- */

struct out {
	char *buf;
	size_t len, cap;
	int full;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = 1;
	else
		o->len += (size_t)n;
}

static uint64_t
get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* NAME as a Prometheus label value: backslash and quote escaped, anything
 * but printable ASCII shown as '?' (names come from the config file, but a
 * worker can write the table: nothing is assumed of them, not even a NUL
 * within METRICS_NAME_MAX bytes). */
static const char *
label(const char *name, char dst[2 * METRICS_NAME_MAX])
{
	size_t j = 0;

	for (size_t i = 0; i < METRICS_NAME_MAX - 1 && name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '\\' || c == '"')
			dst[j++] = '\\';
		dst[j++] = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	dst[j] = '\0';
	return dst;
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_endpoints(struct out *o, const struct metrics *m)
{
	char l[2 * METRICS_NAME_MAX];

	head(o, "postern_sessions_total", "counter", "SMTP sessions started, by endpoint.");
	for (int i = 0; i < METRICS_ENDPOINTS && m->endpoints[i].name[0]; i++)
		put(o, "postern_sessions_total{endpoint=\"%s\"} %llu\n", label(m->endpoints[i].name, l),
		    (unsigned long long)get(&m->endpoints[i].sessions));
	head(o, "postern_messages_total", "counter",
	    "Transactions that reached the end of DATA or BDAT LAST, by endpoint and outcome.");
	for (int i = 0; i < METRICS_ENDPOINTS && m->endpoints[i].name[0]; i++)
		for (int k = 0; k < MSG_OUTCOMES; k++)
			put(o, "postern_messages_total{endpoint=\"%s\",outcome=\"%s\"} %llu\n",
			    label(m->endpoints[i].name, l), msg_outcomes[k],
			    (unsigned long long)get(&m->endpoints[i].messages[k]));
}

static void
render_step_histogram(struct out *o, const struct metrics_step *s, int st)
{
	uint64_t cum = 0, total = 0;
	char l[2 * METRICS_NAME_MAX];
	const char *name = label(s->name, l);

	for (int k = 0; k < STEP_OUTCOMES; k++)
		total += get(&s->calls[st][k]);
	for (int b = 0; b < METRICS_BUCKETS; b++) {
		cum += get(&s->buckets[st][b]);
		put(o, "postern_step_duration_seconds_bucket{step=\"%s\",stage=\"%s\",le=\"%g\"} %llu\n",
		    name, stage_names[st], metrics_bucket_bounds[b], (unsigned long long)cum);
	}
	if (total < cum)        /* counted in another order by racing workers */
		total = cum;
	put(o, "postern_step_duration_seconds_bucket{step=\"%s\",stage=\"%s\",le=\"+Inf\"} %llu\n",
	    name, stage_names[st], (unsigned long long)total);
	put(o, "postern_step_duration_seconds_sum{step=\"%s\",stage=\"%s\"} %.6f\n",
	    name, stage_names[st], (double)get(&s->sum_us[st]) / 1e6);
	put(o, "postern_step_duration_seconds_count{step=\"%s\",stage=\"%s\"} %llu\n",
	    name, stage_names[st], (unsigned long long)total);
}

/* Is there anything to say about step S at stage ST? */
static int
step_used(const struct metrics_step *s, int st)
{
	for (int k = 0; k < STEP_OUTCOMES; k++)
		if (get(&s->calls[st][k]) != 0)
			return 1;
	return 0;
}

static void
render_steps(struct out *o, const struct metrics *m)
{
	char l[2 * METRICS_NAME_MAX];

	head(o, "postern_step_calls_total", "counter",
	    "Calls of each pipeline step (hook or milter), by stage and outcome.");
	for (int i = 0; i < METRICS_STEPS && m->steps[i].name[0]; i++)
		for (int st = 0; st < MSTAGE_STAGES; st++)
			if (step_used(&m->steps[i], st))
				for (int k = 0; k < STEP_OUTCOMES; k++)
					put(o, "postern_step_calls_total{step=\"%s\",stage=\"%s\",outcome=\"%s\"} %llu\n",
					    label(m->steps[i].name, l), stage_names[st], step_outcomes[k],
					    (unsigned long long)get(&m->steps[i].calls[st][k]));
	head(o, "postern_step_duration_seconds", "histogram",
	    "How long each pipeline step took to answer, by stage.");
	for (int i = 0; i < METRICS_STEPS && m->steps[i].name[0]; i++)
		for (int st = 0; st < MSTAGE_STAGES; st++)
			if (step_used(&m->steps[i], st))
				render_step_histogram(o, &m->steps[i], st);
}

static void
render_totals(struct out *o, const struct metrics *m, const struct metrics_pool *p)
{
	head(o, "postern_replies_total", "counter", "SMTP replies sent, by class.");
	for (int c = 2; c <= 5; c++)
		put(o, "postern_replies_total{class=\"%dxx\"} %llu\n", c,
		    (unsigned long long)get(&m->replies[c]));
	head(o, "postern_tls_handshakes_total", "counter", "TLS handshakes, by result.");
	for (int k = 0; k < TLS_RESULTS; k++)
		put(o, "postern_tls_handshakes_total{result=\"%s\"} %llu\n", tls_results[k],
		    (unsigned long long)get(&m->tls[k]));
	head(o, "postern_auth_total", "counter", "AUTH exchanges that reached a verdict, by result.");
	for (int k = 0; k < AUTH_RESULTS; k++)
		put(o, "postern_auth_total{result=\"%s\"} %llu\n", auth_results[k],
		    (unsigned long long)get(&m->auth[k]));
	head(o, "postern_received_bytes_total", "counter", "Bytes read from clients.");
	put(o, "postern_received_bytes_total %llu\n", (unsigned long long)get(&m->received_bytes));
	head(o, "postern_workers", "gauge", "Worker processes, by state.");
	put(o, "postern_workers{state=\"busy\"} %d\npostern_workers{state=\"idle\"} %d\n",
	    p->busy, p->idle);
	head(o, "postern_stress", "gauge", "1 while every worker is busy (stress mode), else 0.");
	put(o, "postern_stress %d\n", p->stress ? 1 : 0);
}

size_t
metrics_render(const struct metrics *m, const struct metrics_pool *p, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	render_endpoints(&o, m);
	render_steps(&o, m);
	render_totals(&o, m, p);
	return o.full ? 0 : o.len;
}
