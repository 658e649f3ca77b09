/* SPDX-License-Identifier: ISC */
/*
 * children.h - signal the master's own processes and nothing else: a
 * worker by the pid the master forked, a hook found as a child of its
 * worker in /proc (never by a pid a worker could have written).
 */
#ifndef POSTERN_CHILDREN_H
#define POSTERN_CHILDREN_H

#include <sys/types.h>

/* kill(PID, SIG) for a worker PID the master forked; never a pid <= 1. */
int signal_worker(pid_t pid, int sig);

/* SIGKILL every child of WORKER (its hooks) and the process group each
 * one leads.  Call while WORKER still lives: its children are found by
 * their parent pid. */
void kill_hooks(pid_t worker);

#endif
