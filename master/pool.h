/* SPDX-License-Identifier: ISC */
/*
 * pool.h - the master's pool of workers: start, watch, replace, resize,
 * reload and stop.  Knows nothing of SMTP.
 */
#ifndef POSTERN_POOL_H
#define POSTERN_POOL_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct listener;
struct tls_server;

struct credentials;
struct metrics_proc;

/* Run the pool until SIGTERM/SIGINT; returns the exit status.  PIDFILE_FD
 * (or -1) is closed in every worker.  MP: the [metrics] side (its fd -1
 * without it), run and stopped with the pool. */
int pool_run(struct config *cfg, const struct credentials *cr,
    struct tls_server *tls, int nlisteners, struct listener *listeners,
    int pidfile_fd, struct metrics_proc *mp);

#endif
