/* SPDX-License-Identifier: ISC */
/*
 * worker.h - a worker process: drops privileges, then accepts connections
 * on the inherited listening sockets and serves one session at a time.
 */
#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H

#include <sys/types.h>

struct config;
struct listener;
struct scoreboard;

struct rates;

struct worker_args {
	const struct config *cfg;
	const struct listener *listeners;
	int nlisteners;
	struct scoreboard *sb;
	struct rates *rates;    /* per-client rates (common/rates.c) */
	int slot;
	int master_fd;          /* read end of a pipe: EOF means the master is gone */
	int notify_fd;          /* write end: one byte to the master on going busy */
	int drop;               /* switch to uid/gid (the master is root) */
	uid_t uid;
	gid_t gid;
	const char *user;
	const struct tls_server *tls;   /* loaded by the master, or NULL */
};

void worker_main(const struct worker_args *) __attribute__((noreturn));

#endif
