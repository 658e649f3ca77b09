/* SPDX-License-Identifier: ISC */
/*
 * decision.h - ask one step about the session and turn its answer into the
 * SMTP reply (decision.c); which steps are asked is pipeline.h.
 */
#ifndef POSTERN_DECISION_H
#define POSTERN_DECISION_H

#include <stddef.h>

#include "../common/config.h"

struct session;
struct hook_result;
struct hook_env;

/* Run step ST for stage KIND with the session's environment; STDIN_FD:
 * the message at the data stage (an exec step; a persistent step gets it
 * through session_policy). */
void session_hook(struct session *, const struct step *, enum hook_kind, int stdin_fd,
    const char *fd3, size_t fd3_len, struct hook_result *);
/* Queue the reply for a hook that did not accept. */
void session_refuse(struct session *, enum hook_kind, const struct hook_result *);
/* The text of that reply ("NNN X.Y.Z text"), into OUT. */
void session_refusal_text(enum hook_kind, const struct hook_result *, char *out, size_t outlen);

/* Build the hook environment for step ST at stage KIND from the session. */
void session_hook_env(struct session *, const struct step *, enum hook_kind, struct hook_env *);

#endif
