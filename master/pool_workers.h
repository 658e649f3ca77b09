/* SPDX-License-Identifier: ISC */
/*
 * pool_workers.h - the pool's worker slots: start, reap, resize, signal.
 */
#ifndef POSTERN_POOL_WORKERS_H
#define POSTERN_POOL_WORKERS_H

struct pool;

/* Reap dead workers (and the metrics process); note crash loops. */
void pool_reap(struct pool *p);
/* Keep the pool sized: start or retire workers; called after every
 * wake-up. */
void pool_maintain(struct pool *p);
/* Send SIG to every worker (OLD_ONLY: those of an older configuration);
 * SIGKILL kills their hooks first. */
void pool_signal_all(struct pool *p, int sig, int old_only);
/* How many workers are alive. */
int pool_count_live(const struct pool *p);

#endif
