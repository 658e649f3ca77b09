/* SPDX-License-Identifier: ISC */
/*
 * worker.c - the worker's life: drop root (setgroups, setgid, setuid, then
 * check that it cannot be undone), wait on all listening sockets with one
 * epoll set (EPOLLEXCLUSIVE: a connection wakes one idle worker, not all),
 * serve sessions one at a time, and exit after max_sessions, on SIGTERM
 * (after the current session), or when the master is gone.
 */
#include "autoconf.h"
#include "worker.h"
#include "session.h"
#include "smtp_loop.h"
#include "policy.h"
#include "proxy.h"
#include "hook.h"
#include "ratelimit.h"
#include "../common/config.h"
#include "../common/deadline.h"
#include "../common/listener.h"
#include "../common/log.h"
#include "../common/netaddr.h"
#include "../common/scoreboard.h"
#include "../common/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile int abort_sessions;
static const struct listener *my_listeners;
static int my_nlisteners;

/* SIGTERM/SIGINT: finish the session in progress, accept no more; the
 * listening sockets are closed at once (close is async-signal-safe), so once
 * every process has let go of them new clients are refused, not queued. */
static void
on_signal(int sig)
{
	int i;

	if (!stop_requested)
		for (i = 0; i < my_nlisteners; i++)
			close(my_listeners[i].fd);
	stop_requested = 1;
	if (sig == SIGUSR1)
		abort_sessions = 1;
}

/* A signal that came while epoll_pwait was already returning a connection
 * stays pending (blocked again): let it in now, before accepting. */
static void
take_pending_signals(const sigset_t *waitmask)
{
	sigset_t pending, old;

	if (sigpending(&pending) < 0)
		return;
	if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT) ||
	    sigismember(&pending, SIGUSR1)) {
		sigprocmask(SIG_SETMASK, waitmask, &old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
}

static void
drop_privileges(const struct worker_args *a)
{
	if (!a->drop)
		return;
	if (initgroups(a->user, a->gid) < 0 && setgroups(1, &a->gid) < 0) {
		log_err("worker: cannot set groups for %s: %s", a->user, strerror(errno));
		_exit(2);
	}
	if (setgid(a->gid) < 0 || setuid(a->uid) < 0) {
		log_err("worker: cannot switch to user %s (uid %d gid %d): %s", a->user,
		    (int)a->uid, (int)a->gid, strerror(errno));
		_exit(2);
	}
	if (getuid() != a->uid || geteuid() != a->uid || getgid() != a->gid ||
	    getegid() != a->gid || setuid(0) == 0) {
		log_err("worker: privileges were not dropped to %s: refusing to serve", a->user);
		_exit(2);
	}
}

/* No execve from here on (a hook included) can gain privileges: setuid
 * and file-capability binaries run without them. */
static void
no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("worker: prctl(PR_SET_NO_NEW_PRIVS): %s: refusing to serve", strerror(errno));
		_exit(2);
	}
}

static void
setup_signals(sigset_t *waitmask)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, 0 };
	sigset_t none;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);                /* reload is the master's business */
	signal(SIGCHLD, SIG_DFL);
	/* Blocked all the time (they were blocked since fork, so none is
	 * lost), let through only while waiting: waitmask (empty). */
	sigemptyset(&none);
	signals_catch(sigs, on_signal, &none, waitmask);
}

/* Over max_connections_per_client or max_connection_rate: 421 and close,
 * before any session. */
static void
refuse(const struct worker_args *a, const struct endpoint *ep, int fd,
    const struct sockaddr *peer, int n, int limit, const char *what)
{
	char host[64], line[512];
	unsigned port;
	int len;

	netaddr_format(peer, host, sizeof(host), &port);
	log_warn("refused [%s]:%u on %s: too many %s (%d, limit %d)", host, port, ep->name,
	    what, n, limit);
	if (ep->tls == TLS_IMPLICIT)
		return;         /* a TLS client could not read a plaintext reply */
	len = snprintf(line, sizeof(line),
	    "421 4.7.0 %s Error: too many connections from your address, try again later\r\n",
	    a->cfg->hostname);
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more to do: the connection is closed next */
	}
}

static void
serve(const struct worker_args *a, const struct listener *l, const sigset_t *waitmask)
{
	struct connection conn;
	socklen_t len = sizeof(conn.client);
	int fd, one = 1, max, n;

	memset(&conn, 0, sizeof(conn));
	fd = accept4(l->fd, (struct sockaddr *)&conn.client, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept on %s: %s", l->addr, strerror(errno));
		return;
	}
	/* Counted now, not after the session: a worker killed in its first
	 * session has served, and is no start-up crash to the master. */
	scoreboard_count_session(a->sb, a->slot);
	conn.fd = fd;
	conn.ep = &a->cfg->endpoints[l->endpoint];
	conn.client_key = scoreboard_client(a->sb, a->slot);
	conn.sb = a->sb;
	len = sizeof(conn.server);
	getsockname(fd, (struct sockaddr *)&conn.server, &len);
	scoreboard_set_client(a->sb, a->slot, (struct sockaddr *)&conn.client);
	scoreboard_set(a->sb, a->slot, SLOT_BUSY);
	if (write(a->notify_fd, "b", 1) < 0) {
		/* the pipe is full: the master is already awake */
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Behind a load balancer: the client's address comes in the PROXY
	 * header, before anything else, and only from a trusted proxy.  Others
	 * are served as direct clients; a PROXY line from them is no command. */
	if (conn.ep->proxy_protocol && netaddr_in_cidrs((struct sockaddr *)&conn.client,
	    conn.ep->proxy_trusted, conn.ep->nproxy_trusted)) {
		struct timespec deadline;
		char why[256], host[64];
		unsigned port;

		deadline = deadline_in(conn.ep->limits.command_timeout < 30 ? conn.ep->limits.command_timeout : 30);
		if (proxy_read_header(fd, &deadline, &conn.client, &conn.server, why, sizeof(why)) < 0) {
			netaddr_format((struct sockaddr *)&conn.client, host, sizeof(host), &port);
			log_warn("proxy [%s]:%u on %s: %s: connection closed", host, port, conn.ep->name, why);
			goto done;
		}
	}
	scoreboard_set_client(a->sb, a->slot, (struct sockaddr *)&conn.client);
	max = conn.ep->limits.max_connections_per_client;
	conn.exempt = ratelimit_exempt(&conn.ep->limits, (struct sockaddr *)&conn.client);
	if (!conn.exempt && max > 0 &&
	    (n = scoreboard_count_client(a->sb, a->slot, conn.client_key)) >= max) {
		/* a refused connection does not count against the next one */
		scoreboard_set_client(a->sb, a->slot, NULL);
		refuse(a, conn.ep, fd, (struct sockaddr *)&conn.client, n, max, "connections from this client");
	} else if (!conn.exempt &&
	    (n = (int)ratelimit_connection(&conn.ep->limits, conn.client_key)) > 0) {
		scoreboard_set_client(a->sb, a->slot, NULL);
		refuse(a, conn.ep, fd, (struct sockaddr *)&conn.client, n,
		    conn.ep->limits.max_connection_rate, "connections in a minute (max_connection_rate)");
	} else {
		/* Stress: this session takes the last worker the pool may have. */
		conn.stress = scoreboard_count_busy(a->sb) >= a->cfg->max_workers;
		session_run(a->cfg, a->tls, &conn, waitmask, &abort_sessions);
	}
done:
	scoreboard_set_client(a->sb, a->slot, NULL);
	close(fd);
}

void
worker_main(const struct worker_args *a)
{
	struct epoll_event ev, events[8];
	sigset_t waitmask;
	int ep, i, master_gone = 0;

	setproctitle("worker starting");
	drop_privileges(a);
	no_new_privs();
	scoreboard_set_self(a->sb, a->slot);
	my_listeners = a->listeners;
	my_nlisteners = a->nlisteners;
	setup_signals(&waitmask);
	ratelimit_init(a->rates);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_err("worker: epoll_create1: %s", strerror(errno));
		_exit(2);
	}
	for (i = 0; i < a->nlisteners; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, a->listeners[i].fd, &ev) < 0) {
			log_err("worker: epoll_ctl: %s", strerror(errno));
			_exit(2);
		}
	}
	ev.events = EPOLLIN;
	ev.data.u32 = UINT32_MAX;
	epoll_ctl(ep, EPOLL_CTL_ADD, a->master_fd, &ev);

	while (!stop_requested && !master_gone &&
	    scoreboard_sessions(a->sb, a->slot) < (uint64_t)a->cfg->max_sessions) {
		int n;

		scoreboard_set(a->sb, a->slot, SLOT_IDLE);
		setproctitle("worker idle");
		n = epoll_pwait(ep, events, 8, -1, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("worker: epoll_wait: %s", strerror(errno));
			break;
		}
		take_pending_signals(&waitmask);
		for (i = 0; i < n && !stop_requested; i++) {
			if (events[i].data.u32 == UINT32_MAX) {
				master_gone = 1;
				log_warn("worker: the master process is gone: exiting");
				break;
			}
			serve(a, &a->listeners[events[i].data.u32], &waitmask);
			break;  /* re-check the limits before the next accept */
		}
	}
	scoreboard_set(a->sb, a->slot, SLOT_EXITING);
	policy_close_all(a->cfg);
	_exit(0);
}
