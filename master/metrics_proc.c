/* SPDX-License-Identifier: ISC */
/*
 * metrics_proc.c - the master's side of `[metrics]` (metrics_proc.h): the
 * socket, the shared counters and the unprivileged process that serves
 * them.  The child closes every descriptor of the pool, drops to
 * server.user/group as a worker does (checked), forbids itself new
 * privileges and runs metricsd_run until SIGTERM.
 */
#include "autoconf.h"
#include "metrics_proc.h"
#include "credentials.h"
#include "listen.h"
#include "metricsd.h"
#include "../common/config.h"
#include "../common/deadline.h"
#include "../common/listener.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/tls_creds.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t metrics_stop;
static int stopping;

static void
register_names(struct metrics *m, const struct config *cfg)
{
	for (int i = 0; i < cfg->nendpoints; i++)
		if (metrics_register_endpoint(m, cfg->endpoints[i].name) < 0)
			log_warn("metrics: no room for endpoint %s: not counted", cfg->endpoints[i].name);
	for (int i = 0; i < cfg->nsteps; i++)
		if (metrics_register_step(m, cfg->steps[i].name) < 0)
			log_warn("metrics: no room for step %s: not counted", cfg->steps[i].name);
}

int
metrics_proc_open(struct metrics_proc *mp, const struct config *cfg, char *err, size_t errlen)
{
	struct listener l;

	memset(mp, 0, sizeof(*mp));
	mp->fd = -1;
	if (cfg->metrics_listen[0] == '\0')
		return 0;
	if (listen_one(cfg->metrics_listen, -1, &l, err, errlen) < 0)
		return -1;
	if ((mp->m = metrics_create()) == NULL) {
		snprintf(err, errlen, "[metrics]: cannot create the counters: %s", strerror(errno));
		close(l.fd);
		return -1;
	}
	mp->fd = l.fd;
	strlcpy(mp->addr, cfg->metrics_listen, sizeof(mp->addr));
	register_names(mp->m, cfg);
	metrics_shared = mp->m;
	return 0;
}

void
metrics_proc_reload(struct metrics_proc *mp, const struct config *nc)
{
	if (strcmp(mp->addr, nc->metrics_listen) != 0)
		log_warn("[metrics] listen changed from \"%s\" to \"%s\": this takes a restart of posternd; "
		    "the metrics process keeps its address until then", mp->addr, nc->metrics_listen);
	if (mp->m != NULL)
		register_names(mp->m, nc);
	if (mp->pid > 1) {
		mp->restart = 1;
		kill(mp->pid, SIGTERM);
	}
}

static void
on_term(int sig)
{
	(void)sig;
	metrics_stop = 1;
}

/* The same checks as a worker's (worker.c drop_privileges). */
static void
drop_privileges(const struct credentials *cr)
{
	if (cr->drop) {
		if (initgroups(cr->user, cr->gid) < 0 && setgroups(1, &cr->gid) < 0) {
			log_err("metrics: cannot set groups for %s: %s", cr->user, strerror(errno));
			_exit(2);
		}
		if (setgid(cr->gid) < 0 || setuid(cr->uid) < 0) {
			log_err("metrics: cannot switch to user %s: %s", cr->user, strerror(errno));
			_exit(2);
		}
		if (getuid() != cr->uid || geteuid() != cr->uid || getgid() != cr->gid ||
		    getegid() != cr->gid || setuid(0) == 0) {
			log_err("metrics: privileges were not dropped to %s: refusing to serve", cr->user);
			_exit(2);
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("metrics: prctl(PR_SET_NO_NEW_PRIVS): %s: refusing to serve", strerror(errno));
		_exit(2);
	}
}

static void __attribute__((noreturn))
child_main(struct metrics_proc *mp, const struct metrics_child *c)
{
	struct sigaction sa;
	sigset_t none;

	for (int i = 0; i < c->nclose; i++)
		if (c->close_fds[i] >= 0 && c->close_fds[i] != mp->fd)
			close(c->close_fds[i]);
	if (c->tls != NULL)
		tls_server_free(c->tls);        /* the private keys are not its business */
	drop_privileges(c->cr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setproctitle("metrics %s", mp->addr);
	metricsd_run(mp->fd, mp->m, c->sb, c->nslots, c->max_workers, &metrics_stop);
	_exit(0);
}

void
metrics_proc_maintain(struct metrics_proc *mp, const struct metrics_child *c)
{
	pid_t pid;

	if (mp->fd < 0 || mp->pid != 0 || stopping || monotonic_seconds() < mp->next_spawn)
		return;
	mp->started = monotonic_seconds();
	if ((pid = fork()) < 0) {
		log_err("metrics: fork: %s", strerror(errno));
		mp->next_spawn = monotonic_seconds() + 1;
		return;
	}
	if (pid == 0)
		child_main(mp, c);
	mp->pid = pid;
	log_debug("metrics: started process %d on %s", (int)pid, mp->addr);
}

int
metrics_proc_reaped(struct metrics_proc *mp, pid_t pid, int status)
{
	if (mp->pid == 0 || pid != mp->pid)
		return 0;
	mp->pid = 0;
	if (stopping)
		return 1;
	if (mp->restart && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		mp->restart = 0;
		return 1;       /* asked to go by a reload: started again at once */
	}
	mp->restart = 0;
	if (WIFSIGNALED(status))
		log_warn("metrics process %d died of signal %d: starting another", (int)pid, WTERMSIG(status));
	else
		log_warn("metrics process %d exited with status %d: starting another", (int)pid,
		    WEXITSTATUS(status));
	if (monotonic_seconds() - mp->started < 5.0) {
		double delay = 0.1 * (double)(1 << (mp->crashes < 8 ? mp->crashes : 8));
		mp->crashes++;
		mp->next_spawn = monotonic_seconds() + delay;
	} else
		mp->crashes = 0;
	return 1;
}

void
metrics_proc_stop(struct metrics_proc *mp)
{
	stopping = 1;
	if (mp->pid > 1)
		kill(mp->pid, SIGTERM);
}
