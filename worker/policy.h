/* SPDX-License-Identifier: ISC */
/*
 * policy.h - persistent hooks: a co-process per worker (or a connection to
 * a policy server already running, inet:HOST:PORT or unix:PATH) that speaks
 * the Postfix policy delegation protocol, extended with Postern's
 * postern_auth and postern_data requests.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include "../common/config.h"

struct hook_result;
struct message;

/*
 * Send one request: REQ ("name=value" lines and the empty line that ends
 * them, REQLEN bytes), then the message BODY (postern_data; NULL for none).  Read the "action=..." answer into RES.  A hook that
 * cannot be reached, dies, times out or answers garbage is restarted (with
 * back-off) and RES says HOOK_FAILED: the client gets a 4xx, never a hang.
 */
void policy_ask(const struct config *, const struct step *, enum hook_kind,
    const char *req, size_t reqlen, const struct message *body, struct hook_result *res);

/* policy_answer.c: "action=..." in ANSWER (the lines of one answer) to a
 * verdict, a reply and headers in RES.  0, or -1 without a valid action. */
int policy_parse_action(const char *name, enum hook_kind kind, const char *answer,
    struct hook_result *res);

/* policy_request.c: a variable list in request mode (see struct hook_env),
 * and the request for step ST at stage KIND built from the session and
 * sent; EXTRA are more name=value attributes, BODY the message for
 * postern_data (NULL at the other stages). */
struct hook_env;
struct session;
void policy_request_init(struct hook_env *);
/* The request alone, into REQ (hook_env_free it): what session_policy sends. */
void policy_request_build(struct session *, const struct step *, enum hook_kind,
    char *const extra[], long long body_len, struct hook_env *req);
void session_policy(struct session *, const struct step *, enum hook_kind, char *const extra[],
    const struct message *body, struct hook_result *);

/* Stop every co-process and close every connection (worker exit). */
void policy_close_all(const struct config *);

#endif
