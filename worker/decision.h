/*
 * decision.h - ask a hook about the session and turn its answer into the
 * SMTP reply (decision.c).
 */
#ifndef POSTERN_DECISION_H
#define POSTERN_DECISION_H

#include <stddef.h>

#include "../common/config.h"

struct session;
struct hook_result;
struct hook_env;

/* Run the hook for KIND with the session's environment. */
void session_hook(struct session *, enum hook_kind, int stdin_fd,
    const char *fd3, size_t fd3_len, struct hook_result *);
/* Ask a persistent hook (policy protocol); EXTRA are more name=value
 * attributes, BODY_FD/BODY_LEN the message for postern_data. */
void session_policy(struct session *, enum hook_kind, char *const extra[],
    int body_fd, long long body_len, struct hook_result *);
/* Queue the reply for a hook that did not accept. */
void session_refuse(struct session *, enum hook_kind, const struct hook_result *);
/* Ask the hook for KIND, if one is set.  Returns 1 if it accepted (the
 * caller sends the positive reply), else queues the refusal and returns 0. */
int session_ask(struct session *, enum hook_kind);

/* Build the hook environment for KIND from the session state. */
void session_hook_env(struct session *, enum hook_kind, struct hook_env *);

#endif
