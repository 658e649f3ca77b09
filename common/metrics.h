/* SPDX-License-Identifier: ISC */
/*
 * metrics.h - the counters behind `[metrics]` (DESIGN.md Part 2
 * "Deployment"): one anonymous shared mapping made by the master before it
 * forks, counted into by the workers (relaxed atomic adds, no locks), and
 * read by the unprivileged metrics process, which renders it as Prometheus
 * text.  The master registers names in it and never reads a counter: nothing
 * a worker writes here steers the root process.
 *
 * Endpoints and steps are found by name, so counters live across a SIGHUP
 * that adds, drops or reorders them (a name that disappears keeps its last
 * values, as Prometheus expects of a counter).
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_NAME_MAX        64
#define METRICS_ENDPOINTS       64
#define METRICS_STEPS           128
#define METRICS_BUCKETS         12      /* step latency histogram */

enum metrics_outcome {                  /* of a message (end of DATA/BDAT LAST) */
	MSG_ACCEPTED, MSG_REJECTED, MSG_TEMPFAILED, MSG_DISCARDED, MSG_OUTCOMES
};
enum metrics_step_outcome {
	STEP_ACCEPT, STEP_REJECT, STEP_TEMPFAIL, STEP_TIMEOUT, STEP_ERROR,
	STEP_OUTCOMES
};
enum metrics_stage {                    /* as the hook stages, in their order */
	MSTAGE_CONNECT, MSTAGE_HELO, MSTAGE_AUTH, MSTAGE_MAIL, MSTAGE_RCPT,
	MSTAGE_DATA, MSTAGE_STAGES
};
enum metrics_tls { TLS_FULL, TLS_RESUMED, TLS_FAILED, TLS_RESULTS };
enum metrics_auth { AUTH_OK, AUTH_FAILED, AUTH_RESULTS };

struct metrics_endpoint {
	char name[METRICS_NAME_MAX];    /* "" = unused */
	uint64_t sessions;
	uint64_t messages[MSG_OUTCOMES];
};

struct metrics_step {
	char name[METRICS_NAME_MAX];
	uint64_t calls[MSTAGE_STAGES][STEP_OUTCOMES];
	uint64_t buckets[MSTAGE_STAGES][METRICS_BUCKETS];  /* non-cumulative */
	uint64_t sum_us[MSTAGE_STAGES];
};

struct metrics {
	uint64_t replies[6];            /* by class: [2] = 2xx ... [5] = 5xx */
	uint64_t tls[TLS_RESULTS];
	uint64_t auth[AUTH_RESULTS];
	uint64_t received_bytes;
	struct metrics_endpoint endpoints[METRICS_ENDPOINTS];
	struct metrics_step steps[METRICS_STEPS];
};

/* The upper bounds of the latency buckets, in seconds (+Inf after them). */
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

/* The counters the workers count into: made by the master before it forks
 * (master/metrics_proc.c), inherited; NULL without [metrics]. */
extern struct metrics *metrics_shared;

/* The mapping (zero-filled), or NULL with errno set. */
struct metrics *metrics_create(void);
/* The index of NAME among the endpoints or steps, registered if new; -1
 * when the table is full.  The master registers before forking; workers
 * find (metrics_find_*) and never register. */
int metrics_register_endpoint(struct metrics *, const char *name);
int metrics_register_step(struct metrics *, const char *name);
int metrics_find_endpoint(const struct metrics *, const char *name);
int metrics_find_step(const struct metrics *, const char *name);

/* Counting, from the workers.  M may be NULL (no [metrics]): nothing is
 * counted; an index of -1 likewise. */
void metrics_add(struct metrics *, uint64_t *counter, uint64_t n);
void metrics_session(struct metrics *, int endpoint);
void metrics_message(struct metrics *, int endpoint, enum metrics_outcome);
void metrics_reply(struct metrics *, int code);
void metrics_step(struct metrics *, int step, enum metrics_stage,
    enum metrics_step_outcome, double seconds);

/* The pool's state, as the metrics process reads it from the scoreboard. */
struct metrics_pool {
	int busy, idle, stress;
};

/* Render everything as Prometheus text exposition format 0.0.4 into BUF
 * (at most CAP bytes).  Returns the length, or 0 when it does not fit. */
size_t metrics_render(const struct metrics *, const struct metrics_pool *,
    char *buf, size_t cap);

#endif
