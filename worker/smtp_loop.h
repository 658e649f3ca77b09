/* SPDX-License-Identifier: ISC */
/*
 * smtp_loop.h - run an SMTP session: the greeting, then one command line
 * after another until QUIT, a 421 or the end of the connection.
 */
#ifndef POSTERN_SMTP_LOOP_H
#define POSTERN_SMTP_LOOP_H

#include <signal.h>

struct config;
struct tls_server;
struct connection;

/* Run a whole session on CONN; returns when it is over.  WAITMASK are the
 * signals let through while waiting, ABORT_FLAG set by one of them means
 * "close the session now" (421). */
void session_run(const struct config *, const struct tls_server *,
    const struct connection *, const sigset_t *waitmask, volatile int *abort_flag);

#endif
