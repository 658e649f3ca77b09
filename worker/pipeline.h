/*
 * pipeline.h - the step runner's per-step entry (pipeline.c), for runners
 * of one kind of step that need another (a milter at the data stage sees
 * the message that pipeline.c keeps).
 */
#ifndef POSTERN_PIPELINE_H
#define POSTERN_PIPELINE_H

#include "../common/config.h"

struct session;
struct message;
struct hook_result;

/* Ask step ST at stage KIND; MSG is the message at the data stage, else
 * NULL.  RES holds the verdict, the reply and the headers to add. */
void pipeline_run_step(struct session *, const struct step *, enum hook_kind,
    struct message *, struct hook_result *);

#endif
