/* SPDX-License-Identifier: ISC */
/*
 * rcpt_sink.h - the per-recipient answer lines of the data step being run
 * (rcpt_sink.c), read by rcpt_answers.c.
 */
#ifndef POSTERN_RCPT_SINK_H
#define POSTERN_RCPT_SINK_H

#include <stddef.h>

#define RCPT_ANSWERS_MAX 65536  /* the per-recipient lines of one step's answer */

/* The per-recipient lines of the data step being run: the exec and policy
 * runners add them only between arm and disarm (session_deliver). */
void rcpt_sink_arm(void);
void rcpt_sink_disarm(void);
/* Add one answer line (without "RCPT " or "rcpt_action="); 0, or -1 when
 * the sink is not armed or full (the line is dropped and logged later). */
int rcpt_sink_add(const char *line, size_t len);
/* Every "rcpt_action=" attribute of a policy answer (NUL-terminated). */
void rcpt_sink_add_policy(const char *answer);

/* 1 when the step gave lines (or some were dropped). */
int rcpt_sink_pending(void);
/* The lines collected since rcpt_sink_arm() ("...\n" each), their length
 * in *LEN and the number of lines dropped for lack of room in *LOST. */
const char *rcpt_sink_lines(size_t *len, int *lost);

#endif
