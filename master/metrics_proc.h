/* SPDX-License-Identifier: ISC */
/*
 * metrics_proc.h - the master's side of `[metrics]`: bind the listen
 * socket as root, make the shared counters (common/metrics.h) before the
 * workers are forked and register every endpoint and step name in them,
 * and keep one unprivileged metrics process (metricsd.h) running: respawned
 * with back-off when it dies, stopped with the pool.  The master never
 * reads a counter.
 */
#ifndef POSTERN_METRICS_PROC_H
#define POSTERN_METRICS_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct credentials;
struct metrics;
struct scoreboard;
struct tls_server;

struct metrics_proc {
	int fd;                 /* the listening socket; -1: no [metrics] */
	char addr[128];         /* as configured */
	struct metrics *m;      /* NULL: no [metrics] */
	pid_t pid;              /* the metrics process; 0: none */
	double started;         /* monotonic seconds */
	double next_spawn;      /* back-off after a quick death */
	int crashes;
	int restart;            /* stopped on purpose (a reload): no back-off */
};

/* What the metrics process needs from the pool, and what it must close. */
struct metrics_child {
	const struct scoreboard *sb;
	int nslots;             /* the master's own slot count */
	int max_workers;
	const struct credentials *cr;
	const int *close_fds;   /* the pool's descriptors: not for this process */
	int nclose;
	struct tls_server *tls; /* keys it must not keep (freed in the child) */
};

/* Bind [metrics] listen of CFG (nothing without it), create the counters
 * and register CFG's names; sets the global metrics_shared the workers
 * count into.  0, or -1 with err set. */
int metrics_proc_open(struct metrics_proc *, const struct config *cfg,
    char *err, size_t errlen);
/* After a reload: register the names of NC (old ones stay); a changed
 * listen address is logged as needing a restart.  The metrics process is
 * started again, to see the new max_workers. */
void metrics_proc_reload(struct metrics_proc *, const struct config *nc);
/* Start the metrics process if it is due and not running. */
void metrics_proc_maintain(struct metrics_proc *, const struct metrics_child *);
/* PID died with STATUS: 1 if it was the metrics process (then it is
 * started again by metrics_proc_maintain, with back-off), else 0. */
int metrics_proc_reaped(struct metrics_proc *, pid_t pid, int status);
/* SIGTERM to the metrics process (shutdown); no respawn after this. */
void metrics_proc_stop(struct metrics_proc *);

#endif
