/* SPDX-License-Identifier: ISC */
/*
 * pipeline.h - the step runner (pipeline.c): the endpoint's steps asked at
 * each stage, the data stage over the message, the headers steps add.
 */
#ifndef POSTERN_PIPELINE_H
#define POSTERN_PIPELINE_H

#include "../common/config.h"

struct session;
struct message;
struct hook_result;

/* Ask the endpoint's steps for stage KIND, in pipeline order.  Returns 1
 * if all accepted (the caller sends the positive reply, with
 * s->accept_text), else queues the refusal of the first that did not and
 * returns 0. */
int session_ask(struct session *, enum hook_kind);
/* The data stage over the spooled message: every data step in order.
 * Returns 1 when all accepted (RES: the reply text to use, if any), else 0
 * with the deciding step's result in RES and its name in *DECIDER. */
int session_deliver(struct session *, struct hook_result *res, const char **decider);
/* The steps asked at stage KIND, in order, into OUT (CONFIG_MAX_STEPS + 1
 * entries); returns how many. */
int session_stage_steps(struct session *, enum hook_kind, const struct step **out);
/* Forget the headers steps added at a stage (HDRS_*); free them all at the
 * session's end. */
#define HDRS_CONNECT 0
#define HDRS_HELO    1
#define HDRS_TXN     2
void session_headers_clear(struct session *, int which);
void session_headers_free(struct session *);

/* Ask step ST at stage KIND; MSG is the message at the data stage, else
 * NULL.  RES holds the verdict, the reply and the headers to add. */
void pipeline_run_step(struct session *, const struct step *, enum hook_kind,
    struct message *, struct hook_result *);
/* Count one call of step ST (started at T0, CLOCK_MONOTONIC) in the
 * metrics: its stage, outcome and latency.  Nothing without [metrics]. */
struct timespec;
void pipeline_count_step(const struct step *st, enum hook_kind kind,
    const struct hook_result *res, const struct timespec *t0);

#endif
