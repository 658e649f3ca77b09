/* SPDX-License-Identifier: ISC */
/*
 * pool_state.h - the master's pool state, shared by pool.c (start, reload,
 * stop) and pool_workers.c (the worker slots).  Private to the master.
 */
#ifndef POSTERN_POOL_STATE_H
#define POSTERN_POOL_STATE_H

#include <stdint.h>
#include <sys/types.h>

#include "credentials.h"
#include "../common/tls_creds.h"

#define SLOTS 4096              /* the largest max_workers allowed */

struct config;
struct listener;
struct metrics_proc;
struct rates;
struct scoreboard;

struct pool {
	struct config *cfg;
	struct credentials cr;
	struct tls_server tls;
	struct listener *listeners;
	int nlisteners;
	struct scoreboard *sb;
	struct rates *rates;            /* handed to workers, never read here */
	uint32_t gen[SLOTS];            /* configuration generation of each slot */
	pid_t pid[SLOTS];               /* the worker in each slot, 0: none */
	double started[SLOTS];          /* monotonic seconds */
	int pidfile_fd;                 /* closed in workers; -1: none */
	uint32_t generation;
	int master_pipe[2];
	int notify_pipe[2];
	int crashes;                    /* quick deaths in a row */
	double next_spawn;              /* monotonic seconds: back-off */
	double surplus_since;           /* idle > max_spare since then; 0: not */
	struct metrics_proc *mp;        /* [metrics]: socket, counters, process */
	char status_path[1100];         /* the scoreboard's file, "": anonymous */
};

#endif
