/*
 * scoreboard.h - shared memory between the master and its workers: one slot
 * per worker, written by the worker (its state), read by the master to size
 * the pool.  Created by the master before it forks; inherited by workers.
 */
#ifndef POSTERN_SCOREBOARD_H
#define POSTERN_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

enum slot_state {
	SLOT_FREE = 0,          /* no process */
	SLOT_STARTING,          /* forked, not yet accepting */
	SLOT_IDLE,              /* waiting in accept */
	SLOT_BUSY,              /* in a session */
	SLOT_EXITING,           /* retiring: will accept no more */
};

struct slot {
	pid_t pid;
	uint32_t state;         /* enum slot_state, written atomically */
	uint64_t sessions;      /* served so far */
	int64_t started;        /* CLOCK_MONOTONIC seconds */
};

struct scoreboard {
	int nslots;
	struct slot slots[];
};

struct scoreboard *scoreboard_create(int nslots);
void scoreboard_set(struct scoreboard *, int slot, enum slot_state);
enum slot_state scoreboard_get(const struct scoreboard *, int slot);

#endif
