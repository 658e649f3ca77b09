/* SPDX-License-Identifier: ISC */
/*
 * milter_step.h - a milter as a step of a pipeline (pipeline.c): the
 * session's milter connections, one event per stage, the message and its
 * edits at the data stage.
 */
#ifndef POSTERN_MILTER_STEP_H
#define POSTERN_MILTER_STEP_H

#include "../common/config.h"

struct session;
struct message;
struct hook_result;

/* Ask milter step ST at stage KIND (MSG: the message at the data stage).
 * RES as a hook's: accept, reject or tempfail with the reply. */
void milter_step_run(struct session *, const struct step *st, enum hook_kind kind,
    struct message *msg, struct hook_result *res);
/* A command posternd does not know (LINE, as the client sent it): each
 * connected milter is told (UNKNOWN); if one refuses, its reply is queued
 * and 1 returned, else 0 (the caller answers 500 as usual). */
int milter_step_unknown(struct session *, const char *line);
/* The name of the milter that discarded the message (250, nothing stored),
 * at any stage, or NULL.  Until the next milter_step_abort(). */
const char *milter_step_discarded(void);
/* The reason a milter quarantined the message for ("" if none), given to
 * later data steps as POSTERN_QUARANTINE.  Until the next milter_step_abort(). */
const char *milter_step_quarantine(void);
/* The transaction is over (RSET, a new MAIL, the end of a message). */
void milter_step_abort(void);
/* The session is over: QUIT to every milter. */
void milter_step_end_session(void);

#endif
