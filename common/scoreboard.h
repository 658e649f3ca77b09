/* SPDX-License-Identifier: ISC */
/*
 * scoreboard.h - shared memory between the master and its workers: one slot
 * per worker, written by the worker (its state), read by the master to size
 * the pool.  Created by the master before it forks; inherited by workers.
 * Every worker can write all of it: the master signals no pid from it, and
 * no loop here is bounded by anything in it.
 */
#ifndef POSTERN_SCOREBOARD_H
#define POSTERN_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

/* The per-client key: [0] is 4 or 6, then an IPv4 address (4 bytes) or
 * the /64 of an IPv6 address (8 bytes); all zero: no client. */
#define SB_KEY_LEN      9

enum slot_state {
	SLOT_FREE = 0,          /* no process */
	SLOT_STARTING,          /* forked, not yet accepting */
	SLOT_IDLE,              /* waiting in accept */
	SLOT_BUSY,              /* in a session */
	SLOT_EXITING,           /* retiring: will accept no more */
};

/* What `posternd -S` shows of a busy worker: written by the worker, read
 * by nobody but -S, which trusts none of it (bounded, escaped). */
#define SB_TEXT 48
struct slot_status {
	char endpoint[SB_TEXT];
	char client[SB_TEXT];           /* the client's address, as text */
	char step[SB_TEXT];             /* the step being asked; "" = none */
	int64_t since;                  /* CLOCK_MONOTONIC seconds at the session's start */
};

struct slot {
	pid_t pid;
	uint32_t state;         /* enum slot_state, written atomically */
	uint64_t sessions;      /* served so far */
	int64_t started;        /* CLOCK_MONOTONIC seconds */
	/* The client of the session in progress, for per-client limits: an
	 * IPv4 address, or the /64 of an IPv6 address; written before BUSY. */
	uint8_t client[SB_KEY_LEN];
	struct slot_status status;
};

struct scoreboard {
	int nslots;
	/* 1 + the highest slot the master has ever given a worker, written
	 * by the master only: the workers' scans stop there, not at nslots
	 * (4096 slots, one cache line or more each, at every connection). */
	uint32_t used;
	struct slot slots[];
};

struct sockaddr;
/* NSLOTS zeroed slots, shared; in the file PATH (created anew, mode 0600,
 * for `posternd -S`) or, PATH NULL, anonymous.  NULL with errno set. */
struct scoreboard *scoreboard_create(int nslots, const char *path);
/* The size of a scoreboard of NSLOTS slots. */
size_t scoreboard_size(int nslots);
void scoreboard_set(struct scoreboard *, int slot, enum slot_state);
enum slot_state scoreboard_get(const struct scoreboard *, int slot);
/* The master: SLOT is about to get a new worker (PID 0 until forked), or
 * is free again; its pid, for information only (the master keeps its own). */
void scoreboard_slot_start(struct scoreboard *, int slot, pid_t pid, int64_t started);
void scoreboard_set_pid(struct scoreboard *, int slot, pid_t pid);
/* A worker: one more session taken; the number served so far. */
void scoreboard_count_session(struct scoreboard *, int slot);
uint64_t scoreboard_sessions(const struct scoreboard *, int slot);
/* A worker: the client of SLOT's session (SA NULL: none); its key. */
void scoreboard_set_client(struct scoreboard *, int slot, const struct sockaddr *sa);
uint8_t *scoreboard_client(struct scoreboard *, int slot);

/* A worker: its own slot, which the status calls below write. */
void scoreboard_set_self(struct scoreboard *, int slot);
/* The session in progress (ENDPOINT NULL: none) and the step being asked
 * (NULL: none), for `posternd -S`.  Nothing without scoreboard_set_self. */
void scoreboard_status_session(const char *endpoint, const char *client);
void scoreboard_status_step(const char *step);

/* The per-client key of an address (IPv4, or IPv6 /64; v4-mapped as IPv4). */
void scoreboard_client_key(const struct sockaddr *sa, uint8_t key[SB_KEY_LEN]);
/* Busy slots other than SELF serving the client KEY, and all busy slots. */
int scoreboard_count_client(const struct scoreboard *, int self, const uint8_t key[SB_KEY_LEN]);
int scoreboard_count_busy(const struct scoreboard *);

#endif
