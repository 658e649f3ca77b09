/* SPDX-License-Identifier: ISC */
/*
 * pool.c - the pre-forked pool's life (DESIGN.md "Processes"): set it up,
 * run it, reload it, stop it.  Its worker slots are pool_workers.c.
 *
 * The master sleeps in ppoll() with all its signals blocked except there;
 * workers write a byte to the notify pipe when they take a connection, so
 * the master re-sizes the pool at once when it runs short of idle workers.
 * SIGHUP reloads: new config, new workers; the old ones finish their
 * sessions and exit.  SIGTERM: stop accepting, let sessions finish within
 * shutdown_grace, then ask them to close (421), then kill what is left.
 */
#include "autoconf.h"
#include "pool.h"
#include "pool_state.h"
#include "pool_workers.h"
#include "credentials.h"
#include "listen.h"
#include "metrics_proc.h"
#include "../common/config.h"
#include "../common/config_load.h"
#include "../common/deadline.h"
#include "../common/listener.h"
#include "../common/log.h"
#include "../common/rates.h"
#include "../common/scoreboard.h"
#include "../common/signals.h"
#include "../common/tls_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KILL_AFTER_ABORT 5      /* seconds between "close now" and SIGKILL */

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

/* The way down after SIGTERM (see stop_step). */
struct stopping {
	int on;                 /* SIGTERM came: no new sessions */
	int aborted;            /* the grace period is over: SIGUSR1 sent */
	double stop_at;         /* monotonic seconds: end of the grace period */
	double kill_at;         /* monotonic seconds: SIGKILL what is left */
};

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
	if ((nl = calloc(MAX_LISTENERS, sizeof(*nl))) == NULL)
		n = -1;
	else if ((n = listen_all(nc, p->listeners, p->nlisteners, nl, MAX_LISTENERS, err,
	    sizeof(err))) < 0)
		log_err("reload failed, keeping the running configuration: %s", err);
	if (n < 0) {
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
	pool_signal_all(p, SIGTERM, 1); /* old workers: finish and go */
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
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, 0 };
	sigset_t now;

	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, NULL, &now);
	signals_catch(sigs, on_signal, &now, waitmask);
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

/* SIGTERM: close the listening sockets, ask every worker to finish. */
static void
stop_begin(struct pool *p, struct stopping *s)
{
	s->on = 1;
	s->stop_at = monotonic_seconds() + p->cfg->shutdown_grace;
	log_info("stopping: no new connections; running sessions have %d s to finish",
	    p->cfg->shutdown_grace);
	listen_close(p->listeners, p->nlisteners);
	pool_signal_all(p, SIGTERM, 0);
	metrics_proc_stop(p->mp);
	setproctitle("master (stopping)");
}

/* While stopping: after the grace period ask the sessions to close (421),
 * some seconds later kill what is left.  Returns 1 once all are gone. */
static int
stop_step(struct pool *p, struct stopping *s)
{
	if (pool_count_live(p) == 0 && p->mp->pid == 0)
		return 1;
	if (!s->aborted && monotonic_seconds() >= s->stop_at) {
		log_info("grace period over: closing the remaining sessions");
		pool_signal_all(p, SIGUSR1, 0);
		s->aborted = 1;
		s->kill_at = monotonic_seconds() + KILL_AFTER_ABORT;
	} else if (s->aborted && monotonic_seconds() >= s->kill_at) {
		log_warn("killing workers that did not stop");
		pool_signal_all(p, SIGKILL, 0);
		if (p->mp->pid > 1)
			kill(p->mp->pid, SIGKILL);
		s->kill_at = monotonic_seconds() + 3600;
	}
	return 0;
}

static void
pool_destroy(struct pool *p)
{
	if (p->status_path[0] != '\0')
		unlink(p->status_path);
	log_info("stopped");
	close(p->master_pipe[1]);
	free(p->listeners);
	tls_server_free(&p->tls);
	config_free(p->cfg);
	free(p);
}

int
pool_run(struct config *cfg, const struct credentials *cr,
    struct tls_server *tls, int nlisteners, struct listener *listeners,
    int pidfile_fd, struct metrics_proc *mp)
{
	struct stopping stop = { 0, 0, 0, 0 };
	struct pool *p;
	sigset_t waitmask;

	if ((p = pool_create(cfg, cr, tls, nlisteners, listeners, pidfile_fd, mp)) == NULL)
		return 1;

	setup_signals(&waitmask);
	setproctitle("master");
	log_info("started: %d listening sockets, %d workers (max %d)", nlisteners,
	    cfg->workers, cfg->max_workers);
	for (;;) {
		struct pollfd pfd = { p->notify_pipe[0], POLLIN, 0 };
		struct timespec tick = { 1, 0 };

		if (!stop.on) {
			pool_maintain(p);
			maintain_metrics(p);
		}
		if (ppoll(&pfd, 1, &tick, &waitmask) > 0)
			drain_notify(p);
		if (got_chld) {
			got_chld = 0;
			pool_reap(p);
		}
		if (got_hup && !stop.on) {
			got_hup = 0;
			reload(p);
		}
		if (got_term && !stop.on)
			stop_begin(p, &stop);
		if (stop.on && stop_step(p, &stop))
			break;
	}
	pool_destroy(p);
	return 0;
}
