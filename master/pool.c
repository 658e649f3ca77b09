/* SPDX-License-Identifier: ISC */
/*
 * pool.c - the pre-forked pool (DESIGN.md "Processes").
 *
 * The master sleeps in ppoll() with all its signals blocked except there;
 * workers write a byte to the notify pipe when they take a connection, so
 * the master re-sizes the pool at once when it runs short of idle workers.
 * It keeps `workers` processes and at least min_spare idle ones, at most
 * max_spare idle, never more than max_workers.  A worker that dies soon
 * after it started is replaced with a growing delay (a crash loop must not
 * become a fork storm).  SIGHUP reloads: new config, new workers; the old
 * ones finish their sessions and exit.  SIGTERM: stop accepting, let
 * sessions finish within shutdown_grace, then ask them to close (421), then
 * kill what is left.
 *
 * The scoreboard is writable by every worker, so the master takes nothing
 * from it that decides whom it signals: the pids it forked are kept here,
 * in its own memory, and a hook is found as a child of its worker in /proc
 * (see kill_hooks).  Scoreboard states only size the pool.
 */
#include "autoconf.h"
#include "pool.h"
#include "credentials.h"
#include "listen.h"
#include "metrics_proc.h"
#include "../common/config.h"
#include "../common/config_load.h"
#include "../common/listener.h"
#include "../common/log.h"
#include "../common/rates.h"
#include "../common/scoreboard.h"
#include "../common/tls_creds.h"
#include "../worker/worker.h"
#include "children.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096              /* the largest max_workers allowed */
#define KILL_AFTER_ABORT 5      /* seconds between "close now" and SIGKILL */
#define RETIRE_AFTER 1.0        /* seconds of surplus before a spare retires */

static volatile sig_atomic_t got_chld, got_term, got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

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

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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
	p->started[slot] = now_s();
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
static void
reap(struct pool *p)
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
			double lived = now_s() - p->started[slot];
			if (WIFSIGNALED(status))
				log_warn("worker %d died of signal %d", (int)pid, WTERMSIG(status));
			else
				log_warn("worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
			if (lived < 5.0 && scoreboard_sessions(p->sb, slot) == 0) {
				double delay = 0.1 * (double)(1 << (p->crashes < 7 ? p->crashes : 7));
				p->crashes++;
				p->next_spawn = now_s() + delay;
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

/* One idle worker beyond max_spare retires once the surplus has lasted
 * RETIRE_AFTER seconds, then one more per RETIRE_AFTER: connections that
 * come and go (a client reconnecting per message) leave workers idle for
 * a moment, and retiring them at once made the pool fork and kill a worker
 * and its persistent hooks every few connections. */
static void
retire_surplus(struct pool *p, int slot, int idle)
{
	double now = now_s();

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
static void
maintain(struct pool *p)
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
	if (want > 0 && now_s() >= p->next_spawn) {
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

static void
signal_all(struct pool *p, int sig, int old_only)
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

static int
count_live(const struct pool *p)
{
	int slot, n = 0;

	for (slot = 0; slot < SLOTS; slot++)
		if (p->pid[slot] != 0)
			n++;
	return n;
}

/* Give the sockets kept from the running configuration back; close the
 * new ones (a reload that failed half-way). */
static void
unwind_listeners(struct pool *p, struct listener *nl, int n)
{
	int i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < p->nlisteners; k++)
			if (p->listeners[k].fd < 0 && strcmp(p->listeners[k].addr, nl[i].addr) == 0) {
				p->listeners[k].fd = nl[i].fd;
				nl[i].fd = -1;
				break;
			}
		if (nl[i].fd >= 0)
			close(nl[i].fd);
	}
}

/* The sockets of configuration NC into NL: those of addresses that stay are
 * taken over from the pool, the new ones bound.  Returns their number, or -1
 * (logged; the pool's sockets are as they were). */
static int
reload_listeners(struct pool *p, const struct config *nc, struct listener *nl)
{
	char err[1024];
	int e, i, k, n = 0;

	for (e = 0; e < nc->nendpoints; e++) {
		for (i = 0; i < nc->endpoints[e].nlisten; i++) {
			const char *spec = nc->endpoints[e].listen[i];
			if (n == MAX_LISTENERS) {
				log_err("reload failed, keeping the running configuration: too many listen addresses (at most %d)",
				    MAX_LISTENERS);
				unwind_listeners(p, nl, n);
				return -1;
			}
			nl[n].fd = -1;
			for (k = 0; k < p->nlisteners; k++) {
				if (p->listeners[k].fd >= 0 && strcmp(p->listeners[k].addr, spec) == 0) {
					nl[n].fd = p->listeners[k].fd;
					p->listeners[k].fd = -1;
					break;
				}
			}
			if (nl[n].fd < 0 && listen_one(spec, e, &nl[n], err, sizeof(err)) < 0) {
				log_err("reload failed, keeping the running configuration: %s", err);
				unwind_listeners(p, nl, n);
				return -1;
			}
			nl[n].endpoint = e;
			strlcpy(nl[n].addr, spec, sizeof(nl[n].addr));
			n++;
		}
	}
	return n;
}

/* SIGHUP: read the config again; on success retire the old workers. */
static void
reload(struct pool *p)
{
	char err[1024];
	struct config *nc;
	struct credentials cr;
	struct tls_server tls;
	struct listener *nl;
	int n;

	log_info("reloading %s", p->cfg->path);
	if ((nc = config_load(p->cfg->path, err, sizeof(err))) == NULL) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (credentials_lookup(nc, &cr, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		config_free(nc);
		return;
	}
	if (tls_server_load(nc, &p->tls, &tls, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration and certificates: %s", err);
		config_free(nc);
		return;
	}
	if ((nl = calloc(MAX_LISTENERS, sizeof(*nl))) == NULL ||
	    (n = reload_listeners(p, nc, nl)) < 0) {
		free(nl);
		tls_server_free(&tls);
		config_free(nc);
		return;
	}
	listen_close(p->listeners, p->nlisteners);
	free(p->listeners);
	p->listeners = nl;
	p->nlisteners = n;
	metrics_proc_reload(p->mp, nc);
	config_free(p->cfg);
	p->cfg = nc;
	p->cr = cr;
	tls_server_free(&p->tls);
	p->tls = tls;
	p->generation++;
	p->crashes = 0;
	p->next_spawn = 0;
	signal_all(p, SIGTERM, 1);      /* old workers: finish and go */
	log_info("configuration reloaded: %d endpoints, %d listening sockets", nc->nendpoints, n);
}

/* Start the metrics process when due: it gets the master's slot count and
 * closes every descriptor of the pool. */
static void
maintain_metrics(struct pool *p)
{
	int fds[MAX_LISTENERS + 5], n = 0;
	struct metrics_child c;

	if (p->mp->fd < 0 || p->mp->pid != 0)
		return;
	for (int i = 0; i < p->nlisteners; i++)
		fds[n++] = p->listeners[i].fd;
	fds[n++] = p->pidfile_fd;
	fds[n++] = p->master_pipe[0];
	fds[n++] = p->master_pipe[1];
	fds[n++] = p->notify_pipe[0];
	fds[n++] = p->notify_pipe[1];
	c.sb = p->sb;
	c.nslots = SLOTS;
	c.max_workers = p->cfg->max_workers;
	c.cr = &p->cr;
	c.close_fds = fds;
	c.nclose = n;
	c.tls = &p->tls;
	metrics_proc_maintain(p->mp, &c);
}

static void
drain_notify(struct pool *p)
{
	char buf[256];

	while (read(p->notify_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/* The master's signals: handled only while it sleeps in ppoll(WAITMASK). */
static void
setup_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGCHLD);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGHUP);
}

/* The pool's state, its shared mappings and its pipes; NULL on error
 * (logged; the master then exits). */
static struct pool *
pool_create(struct config *cfg, const struct credentials *cr,
    struct tls_server *tls, int nlisteners, struct listener *listeners,
    int pidfile_fd, struct metrics_proc *mp)
{
	struct pool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->cfg = cfg;
	p->cr = *cr;
	p->pidfile_fd = pidfile_fd;
	p->mp = mp;
	p->tls = *tls;          /* the pool owns it from now on */
	memset(tls, 0, sizeof(*tls));
	p->nlisteners = nlisteners;
	if ((p->listeners = calloc(MAX_LISTENERS, sizeof(*listeners))) == NULL)
		return NULL;
	memcpy(p->listeners, listeners, (size_t)nlisteners * sizeof(*listeners));
	/* the workers' per-client rates: never read by the master (made
	 * first, so that the scoreboard stays the first shared mapping in
	 * /proc/PID/maps, where t/master.t looks for it) */
	if ((p->rates = rates_create()) == NULL) {
		log_err("cannot create the rate table: %s", strerror(errno));
		return NULL;
	}
	/* beside the pidfile, for `posternd -S` (status.c) */
	if (cfg->pidfile[0] != '\0')
		snprintf(p->status_path, sizeof(p->status_path), "%s.status", cfg->pidfile);
	if ((p->sb = scoreboard_create(SLOTS, p->status_path[0] ? p->status_path : NULL)) == NULL) {
		log_err("cannot create the scoreboard %s: %s", p->status_path, strerror(errno));
		return NULL;
	}
	if (pipe2(p->master_pipe, O_CLOEXEC) < 0 || pipe2(p->notify_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_err("pipe: %s", strerror(errno));
		return NULL;
	}
	return p;
}

int
pool_run(struct config *cfg, const struct credentials *cr,
    struct tls_server *tls, int nlisteners, struct listener *listeners,
    int pidfile_fd, struct metrics_proc *mp)
{
	struct pool *p;
	sigset_t waitmask;
	double stop_at = 0, kill_at = 0;
	int stopping = 0, aborted = 0;

	if ((p = pool_create(cfg, cr, tls, nlisteners, listeners, pidfile_fd, mp)) == NULL)
		return 1;

	setup_signals(&waitmask);
	setproctitle("master");
	log_info("started: %d listening sockets, %d workers (max %d)", nlisteners,
	    cfg->workers, cfg->max_workers);
	for (;;) {
		struct pollfd pfd = { p->notify_pipe[0], POLLIN, 0 };
		struct timespec tick = { 1, 0 };

		if (!stopping) {
			maintain(p);
			maintain_metrics(p);
		}
		if (ppoll(&pfd, 1, &tick, &waitmask) > 0)
			drain_notify(p);
		if (got_chld) {
			got_chld = 0;
			reap(p);
		}
		if (got_hup && !stopping) {
			got_hup = 0;
			reload(p);
		}
		if (got_term && !stopping) {
			stopping = 1;
			stop_at = now_s() + p->cfg->shutdown_grace;
			log_info("stopping: no new connections; running sessions have %d s to finish",
			    p->cfg->shutdown_grace);
			listen_close(p->listeners, p->nlisteners);
			signal_all(p, SIGTERM, 0);
			metrics_proc_stop(p->mp);
			setproctitle("master (stopping)");
		}
		if (stopping) {
			if (count_live(p) == 0 && p->mp->pid == 0)
				break;
			if (!aborted && now_s() >= stop_at) {
				log_info("grace period over: closing the remaining sessions");
				signal_all(p, SIGUSR1, 0);
				aborted = 1;
				kill_at = now_s() + KILL_AFTER_ABORT;
			} else if (aborted && now_s() >= kill_at) {
				log_warn("killing workers that did not stop");
				signal_all(p, SIGKILL, 0);
				if (p->mp->pid > 1)
					kill(p->mp->pid, SIGKILL);
				kill_at = now_s() + 3600;
			}
		}
	}
	if (p->status_path[0] != '\0')
		unlink(p->status_path);
	log_info("stopped");
	close(p->master_pipe[1]);
	free(p->listeners);
	tls_server_free(&p->tls);
	config_free(p->cfg);
	free(p);
	return 0;
}
