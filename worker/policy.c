/* SPDX-License-Identifier: ISC */
/*
 * policy.c - the client side of the Postfix policy delegation protocol
 * (postfix.org/SMTPD_POLICY_README.html) for persistent hooks.
 *
 * A request is "name=value" lines and an empty line; the answer is
 * "action=..." (at the data stage after rcpt_action= attributes, one per
 * recipient: rcpt_answers.c; other attributes ignored) and an empty line,
 * at most 64 KiB.  The hook is
 * started on first use, once per worker, with a socketpair as its stdin and
 * stdout and a pipe as its stderr (logged), in its own session; or,
 * for inet:/unix: hooks, a connection is opened to a server that runs
 * already.  Any failure (write error, EOF, timeout, an answer that does not
 * parse or is too long) closes it: the next request starts it again, after a
 * back-off that doubles while it keeps failing (0.5 s up to 30 s), and
 * requests during the back-off fail at once.
 */
#include "autoconf.h"
#include "policy.h"
#include "hook.h"
#include "message.h"
#include "rcpt_sink.h"
#include "sockconnect.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX      65536   /* rcpt_action= lines (rcpt_answers.c) and action= */
#define BACKOFF_MIN     0.5
#define BACKOFF_MAX     30.0
#define EXIT_GRACE_MS   1000    /* a policy server's time to exit at EOF */
#define STDERR_BUDGET   65536   /* bytes of stderr read per call: a flood cannot keep us */

struct coproc {
	int fd;                 /* socketpair end or connected socket; -1: none */
	int errfd;              /* the hook's stderr; -1 for servers */
	pid_t pid;              /* 0 for servers */
	double backoff;         /* seconds; 0 while healthy */
	double retry_at;        /* monotonic seconds */
	int fresh;              /* started for this request: no retry on failure */
};

/* One per step (config.steps): a step that serves several stages is one
 * co-process that sees the whole transaction. */
static struct coproc procs[CONFIG_MAX_STEPS];
static int procs_ready;

static void
procs_init(void)
{
	int i;

	for (i = 0; i < CONFIG_MAX_STEPS; i++) {
		memset(&procs[i], 0, sizeof(procs[i]));
		procs[i].fd = procs[i].errfd = -1;
	}
	procs_ready = 1;
}

static void
drain_stderr(struct coproc *cp, const char *name)
{
	struct stderr_log sl = { .len = 0, .lines = 0, .name = name };
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	if (cp->errfd < 0)
		return;
	/* Non-blocking: ends at EAGAIN, EOF or the budget, whichever is first. */
	while (total < STDERR_BUDGET && (n = read(cp->errfd, buf, sizeof(buf))) > 0) {
		stderr_feed(&sl, buf, (size_t)n);
		total += (size_t)n;
	}
	if (sl.len > 0)
		stderr_flush_line(&sl);
}

/* Close the hook's stdin.  At a worker's exit (GRACEFUL) a policy server
 * gets a second to exit at EOF; a hook that failed is not waited for: its
 * process group gets SIGTERM, then SIGKILL. */
static void
stop_process(struct coproc *cp, const char *name, int failed, int graceful)
{
	if (cp->fd >= 0)
		close(cp->fd);
	cp->fd = -1;
	if (cp->pid > 0) {
		int status, pidfd = (int)syscall(SYS_pidfd_open, cp->pid, 0);
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		if (waitpid(cp->pid, &status, WNOHANG) == 0) {
			if (!graceful || pidfd < 0 || poll(&pfd, 1, EXIT_GRACE_MS) <= 0)
				child_kill_group(cp->pid, pidfd);
			child_reap(cp->pid, pidfd, &status);
		}
		if (pidfd >= 0)
			close(pidfd);
	}
	drain_stderr(cp, name);
	if (cp->errfd >= 0)
		close(cp->errfd);
	cp->errfd = -1;
	cp->pid = 0;
	if (failed) {
		cp->backoff = cp->backoff == 0 ? BACKOFF_MIN :
		    (cp->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : cp->backoff * 2);
		cp->retry_at = monotonic_seconds() + cp->backoff;
	}
}

static void
stop(struct coproc *cp, const char *name, int failed)
{
	stop_process(cp, name, failed, 0);
}

static int
start(struct coproc *cp, const struct config *cfg, const struct step *st, enum hook_kind kind,
    const struct timespec *deadline)
{
	const struct hook_command *cmd = &st->cmd;
	const char *name = st->name;
	char why[256];

	if (cmd->server) {
		cp->fd = sock_connect_addr((const struct sockaddr *)&cmd->addr, cmd->addrlen, deadline,
		    why, sizeof(why));
		if (cp->fd < 0) {
			log_warn("hook %s: %s: %s", name, cmd->line, why);
			return -1;
		}
	} else {
		int sv[2], ep[2], rc;
		char *env[5];
		char hookvar[64], stepvar[96];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
		    pipe2(ep, O_CLOEXEC) < 0) {
			log_err("hook %s: socketpair/pipe: %s", name, strerror(errno));
			return -1;
		}
		sv[0] = child_fd_high(sv[0]);
		sv[1] = child_fd_high(sv[1]);
		ep[0] = child_fd_high(ep[0]);
		ep[1] = child_fd_high(ep[1]);
		snprintf(hookvar, sizeof(hookvar), "POSTERN_HOOK=%s", hook_name(kind));
		env[0] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
		env[1] = hookvar;
		env[2] = (char *)"POSTERN_PERSISTENT=1";
		snprintf(stepvar, sizeof(stepvar), "POSTERN_STEP=%s", name);
		env[3] = stepvar;
		env[4] = NULL;
		rc = child_spawn(cmd->argv, env, cfg->hook_directory, sv[1], sv[1], ep[1], -1, &cp->pid);
		close(sv[1]);
		close(ep[1]);
		if (rc != 0) {
			log_err("hook %s: cannot run %s: %s (check the path and that the postern user may execute it)",
			    name, cmd->argv[0], strerror(rc));
			close(sv[0]);
			close(ep[0]);
			cp->pid = 0;
			return -1;
		}
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(ep[0], F_SETFL, O_NONBLOCK);
		cp->fd = sv[0];
		cp->errfd = ep[0];
		log_debug("hook %s: started persistent %s (pid %d)", name, cmd->argv[0], (int)cp->pid);
	}
	return 0;
}

/* Wait until the hook's socket is ready for EVENTS, logging its stderr
 * meanwhile.  0, -1 on an error, -2 when the deadline passed. */
static int
wait_hook(struct coproc *cp, const char *name, short events, const struct timespec *deadline)
{
	struct pollfd pfd[2] = { { cp->fd, events, 0 }, { cp->errfd, POLLIN, 0 } };
	long ms = deadline_ms_left(deadline);

	if (ms <= 0)
		return -2;
	if (poll(pfd, cp->errfd >= 0 ? 2 : 1, (int)ms) < 0 && errno != EINTR)
		return -1;
	if (cp->errfd >= 0 && pfd[1].revents)
		drain_stderr(cp, name);
	return 0;
}

/* Write all of BUF before the deadline. */
static int
send_all(struct coproc *cp, const char *name, const char *buf, size_t len,
    const struct timespec *deadline)
{
	size_t off = 0;
	int rc;

	while (off < len) {
		ssize_t n = send(cp->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if ((rc = wait_hook(cp, name, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* Read until an empty line; returns the length of ANSWER or -1/-2.  The
 * request has just gone out: the answer is not there yet, so the first
 * thing is the wait (which also notices the hook's stderr). */
static int
read_answer(struct coproc *cp, const char *name, char *answer, size_t max,
    const struct timespec *deadline)
{
	size_t len = 0, seen = 0;
	int rc;

	if ((rc = wait_hook(cp, name, POLLIN, deadline)) < 0)
		return rc;
	for (;;) {
		ssize_t n;

		answer[len] = '\0';
		/* the empty line; only the new bytes (and the one before) are searched */
		if ((len >= 2 && strstr(answer + (seen > 0 ? seen - 1 : 0), "\n\n") != NULL) ||
		    (len == 1 && answer[0] == '\n'))
			return (int)len;
		seen = len;
		if (len + 1 >= max)
			return -1;      /* too long to be an answer */
		n = recv(cp->fd, answer + len, max - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if ((rc = wait_hook(cp, name, POLLIN, deadline)) < 0)
			return rc;
	}
}

/* The request and the message (postern_data) go out together: the first
 * part of the message rides in the same write as the request, so a small
 * message costs the hook one wake-up, not two. */
static int
send_request(struct coproc *cp, const char *name, const char *req, size_t reqlen,
    const struct message *body, const struct timespec *deadline)
{
	static char buf[65536];
	long long done = 0, len = body != NULL ? body->len : 0;
	size_t first = 0;
	int rc;

	if (len > 0) {
		if (reqlen < sizeof(buf) / 2) {
			ssize_t n;
			memcpy(buf, req, reqlen);
			n = message_read(body, buf + reqlen, sizeof(buf) - reqlen, 0);
			if (n <= 0)
				return -1;
			first = (size_t)n;
			if ((rc = send_all(cp, name, buf, reqlen + first, deadline)) < 0)
				return rc;
			done = (long long)first;
		} else if ((rc = send_all(cp, name, req, reqlen, deadline)) < 0) {
			return rc;
		}
	} else {
		return send_all(cp, name, req, reqlen, deadline);
	}
	while (done < len) {
		ssize_t n;
		if (body->mem != NULL) {        /* no copy: straight from memory */
			n = (ssize_t)(len - done);
			if ((rc = send_all(cp, name, body->mem + done, (size_t)n, deadline)) < 0)
				return rc;
			done += n;
			continue;
		}
		if ((n = message_read(body, buf, sizeof(buf), done)) <= 0)
			return -1;
		if ((rc = send_all(cp, name, buf, (size_t)n, deadline)) < 0)
			return rc;
		done += n;
	}
	return 0;
}

void
policy_ask(const struct config *cfg, const struct step *st, enum hook_kind kind,
    const char *req, size_t reqlen, const struct message *body, struct hook_result *res)
{
	struct coproc *cp;
	const struct hook_command *cmd = &st->cmd;
	const char *name = st->name;
	struct timespec deadline;
	static char answer[ANSWER_MAX];         /* not on the stack */
	int attempt, rc = 0;

	if (!procs_ready)
		procs_init();
	cp = &procs[st - cfg->steps];
	hook_result_init(res);
	deadline = deadline_in(cmd->timeout);

	/* A connection kept from earlier requests may have been closed by the
	 * other side meanwhile: one retry on a fresh one. */
	for (attempt = 0; attempt < 2; attempt++) {
		if (cp->fd < 0) {
			if (monotonic_seconds() < cp->retry_at) {
				log_warn("hook %s: failing repeatedly; next start in %.1f s: temporary failure",
				    name, cp->retry_at - monotonic_seconds());
				break;
			}
			if (start(cp, cfg, st, kind, &deadline) < 0) {
				stop(cp, name, 1);
				break;
			}
			cp->fresh = 1;
		} else {
			cp->fresh = 0;
		}
		rc = send_request(cp, name, req, reqlen, body, &deadline);
		if (rc == 0) {
			rc = read_answer(cp, name, answer, sizeof(answer), &deadline);
			if (rc >= 0) {
				if (policy_parse_action(name, kind, answer, res) == 0) {
					cp->backoff = 0;
					if (kind == HOOK_DATA)
						rcpt_sink_add_policy(answer);
					break;
				}
				log_warn("hook %s: answer without a valid action= line: restarting it", name);
				rc = -1;
			}
		}
		if (rc == -2) {
			log_warn("hook %s: no answer within %d s: restarting it (temporary failure)",
			    name, cmd->timeout);
			res->timed_out = 1;
			stop(cp, name, 1);
			break;
		}
		stop(cp, name, cp->fresh);
		if (cp->fresh) {
			log_warn("hook %s: %s failed on its first request: temporary failure", name, cmd->line);
			break;
		}
	}
	/* stderr is read when the wait for the answer sees some, and when
	 * the hook is stopped: no read per request that would say EAGAIN */
}

void
policy_close_all(const struct config *cfg)
{
	int i;

	if (!procs_ready)
		return;
	for (i = 0; i < CONFIG_MAX_STEPS && i < cfg->nsteps; i++)
		if (procs[i].fd >= 0 || procs[i].pid > 0)
			stop_process(&procs[i], cfg->steps[i].name, 0, 1);
}
