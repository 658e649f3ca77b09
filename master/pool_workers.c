/* SPDX-License-Identifier: ISC */
/*
 * pool_workers.c - the pool's worker slots (DESIGN.md "Processes"): start
 * a worker in a free slot, reap the dead ones, keep `workers` processes
 * and at least min_spare idle ones, at most max_spare idle, never more
 * than max_workers.  A worker that dies soon after it started is replaced
 * with a growing delay (a crash loop must not become a fork storm).
 *
 * The scoreboard is writable by every worker, so the master takes nothing
 * from it that decides whom it signals: the pids it forked are kept in the
 * pool, in its own memory, and a hook is found as a child of its worker in
 * /proc (see kill_hooks).  Scoreboard states only size the pool.
 */
#include "autoconf.h"
#include "pool_state.h"
#include "pool_workers.h"
#include "children.h"
#include "metrics_proc.h"
#include "../common/config.h"
#include "../common/deadline.h"
#include "../common/log.h"
#include "../common/scoreboard.h"
#include "../common/tls_creds.h"
#include "../worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Start a worker of the current configuration in a free slot.  Returns 0,
 * or -1 (no free slot; fork failed, logged). */
static int
spawn_worker(struct pool *p)
{
	struct worker_args a;
	int slot;
	pid_t pid;

	for (slot = 0; slot < SLOTS; slot++)
		if (p->pid[slot] == 0)
			break;
	if (slot == SLOTS)
		return -1;
	p->started[slot] = monotonic_seconds();
	scoreboard_slot_start(p->sb, slot, 0, (int64_t)p->started[slot]);
	scoreboard_set(p->sb, slot, SLOT_STARTING);
	pid = fork();
	if (pid < 0) {
		log_err("fork: %s", strerror(errno));
		scoreboard_set(p->sb, slot, SLOT_FREE);
		return -1;
	}
	if (pid == 0) {
		/* Signals stay blocked until the worker has its own handlers: a
		 * SIGTERM sent now must reach them, not the master's. */
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		close(p->master_pipe[1]);
		close(p->notify_pipe[0]);
		if (p->pidfile_fd >= 0)
			close(p->pidfile_fd);   /* root's pidfile: not the workers' to write */
		if (p->mp->fd >= 0)
			close(p->mp->fd);
		memset(&a, 0, sizeof(a));
		a.cfg = p->cfg;
		a.listeners = p->listeners;
		a.nlisteners = p->nlisteners;
		a.sb = p->sb;
		a.rates = p->rates;
		a.slot = slot;
		a.master_fd = p->master_pipe[0];
		a.notify_fd = p->notify_pipe[1];
		a.drop = p->cr.drop;
		a.uid = p->cr.uid;
		a.gid = p->cr.gid;
		a.user = p->cr.user;
		a.tls = p->tls.loaded ? &p->tls : NULL;
		worker_main(&a);
	}
	p->pid[slot] = pid;
	scoreboard_set_pid(p->sb, slot, pid);   /* information only */
	p->gen[slot] = p->generation;
	log_debug("pool: started worker %d (slot %d)", (int)pid, slot);
	return 0;
}

/* Reap dead workers; note crash loops. */
void
pool_reap(struct pool *p)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int slot;
		if (metrics_proc_reaped(p->mp, pid, status))
			continue;
		for (slot = 0; slot < SLOTS; slot++)
			if (p->pid[slot] == pid)
				break;
		if (slot == SLOTS)
			continue;
		if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
			double lived = monotonic_seconds() - p->started[slot];
			if (WIFSIGNALED(status))
				log_warn("worker %d died of signal %d", (int)pid, WTERMSIG(status));
			else
				log_warn("worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
			if (lived < 5.0 && scoreboard_sessions(p->sb, slot) == 0) {
				double delay = 0.1 * (double)(1 << (p->crashes < 7 ? p->crashes : 7));
				p->crashes++;
				p->next_spawn = monotonic_seconds() + delay;
				if (p->crashes > 1)
					log_warn("pool: workers die right after start (%d in a row): next start in %.1f s",
					    p->crashes, delay);
			}
		} else {
			p->crashes = 0;
			log_debug("pool: worker %d exited", (int)pid);
		}
		p->pid[slot] = 0;
		scoreboard_slot_start(p->sb, slot, 0, 0);
		scoreboard_set(p->sb, slot, SLOT_FREE);
	}
}

#define RETIRE_AFTER 1.0        /* seconds of surplus before a spare retires */

/* One idle worker beyond max_spare retires once the surplus has lasted
 * RETIRE_AFTER seconds, then one more per RETIRE_AFTER: connections that
 * come and go (a client reconnecting per message) leave workers idle for
 * a moment, and retiring them at once made the pool fork and kill a worker
 * and its persistent hooks every few connections. */
static void
retire_surplus(struct pool *p, int slot, int idle)
{
	double now = monotonic_seconds();

	if (p->surplus_since == 0) {
		p->surplus_since = now;
		return;
	}
	if (now - p->surplus_since < RETIRE_AFTER)
		return;
	log_debug("pool: %d idle workers (max_spare %d): retiring %d", idle,
	    p->cfg->max_spare, (int)p->pid[slot]);
	scoreboard_set(p->sb, slot, SLOT_EXITING);
	signal_worker(p->pid[slot], SIGTERM);
	p->surplus_since = now;
}

/* Keep the pool sized: called after every wake-up. */
void
pool_maintain(struct pool *p)
{
	int slot, live = 0, idle = 0, want;
	int retire = -1;

	for (slot = 0; slot < SLOTS; slot++) {
		enum slot_state st;
		/* the master's own arrays first: the shared slot only when a
		 * worker of this generation has it */
		if (p->pid[slot] == 0 || p->gen[slot] != p->generation ||
		    (st = scoreboard_get(p->sb, slot)) == SLOT_EXITING)
			continue;
		live++;
		if (st == SLOT_IDLE || st == SLOT_STARTING) {
			idle++;
			if (st == SLOT_IDLE)
				retire = slot;
		}
	}
	want = p->cfg->workers - live;
	if (p->cfg->min_spare - idle > want)
		want = p->cfg->min_spare - idle;
	if (want > p->cfg->max_workers - live)
		want = p->cfg->max_workers - live;
	if (want > 0 && monotonic_seconds() >= p->next_spawn) {
		if (p->crashes > 0)
			want = 1;       /* one at a time while backing off */
		while (want-- > 0 && spawn_worker(p) == 0)
			;
		if (live + 1 >= p->cfg->max_workers && idle == 0)
			log_debug("pool: all %d workers busy: new clients wait in the listen queue",
			    p->cfg->max_workers);
	} else if (idle > p->cfg->max_spare && live > p->cfg->workers && retire >= 0) {
		retire_surplus(p, retire, idle);
		return;
	}
	p->surplus_since = 0;
}

void
pool_signal_all(struct pool *p, int sig, int old_only)
{
	int slot;

	for (slot = 0; slot < SLOTS; slot++) {
		if (p->pid[slot] == 0)
			continue;
		if (old_only && p->gen[slot] == p->generation)
			continue;
		/* A worker killed outright leaves its hook behind: kill it too,
		 * or a data hook could deliver a message nobody got 250 for. */
		if (sig == SIGKILL)
			kill_hooks(p->pid[slot]);
		signal_worker(p->pid[slot], sig);
	}
}

int
pool_count_live(const struct pool *p)
{
	int slot, n = 0;

	for (slot = 0; slot < SLOTS; slot++)
		if (p->pid[slot] != 0)
			n++;
	return n;
}
