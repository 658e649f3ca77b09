/*
 * policy.c - the client side of the Postfix policy delegation protocol
 * (postfix.org/SMTPD_POLICY_README.html) for persistent hooks.
 *
 * A request is "name=value" lines and an empty line; the answer is
 * "action=..." (other attributes ignored) and an empty line.  The hook is
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
#include "../common/log.h"

#include <arpa/inet.h>
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

#define ANSWER_MAX      4096
#define BACKOFF_MIN     0.5
#define BACKOFF_MAX     30.0
#define STDERR_BUDGET   65536   /* bytes of stderr read per call: a flood cannot keep us */

struct coproc {
	int fd;                 /* socketpair end or connected socket; -1: none */
	int errfd;              /* the hook's stderr; -1 for servers */
	pid_t pid;              /* 0 for servers */
	double backoff;         /* seconds; 0 while healthy */
	double retry_at;        /* monotonic seconds */
	int fresh;              /* started for this request: no retry on failure */
};

static struct coproc procs[HOOK_COUNT] = {
	{ -1, -1, 0, 0, 0, 0 }, { -1, -1, 0, 0, 0, 0 }, { -1, -1, 0, 0, 0, 0 },
	{ -1, -1, 0, 0, 0, 0 }, { -1, -1, 0, 0, 0, 0 }, { -1, -1, 0, 0, 0, 0 },
};

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
drain_stderr(struct coproc *cp, enum hook_kind kind)
{
	struct stderr_log sl = { .len = 0, .lines = 0, .name = hook_name(kind) };
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
stop_process(struct coproc *cp, enum hook_kind kind, int failed, int graceful)
{
	if (cp->fd >= 0)
		close(cp->fd);
	cp->fd = -1;
	if (cp->pid > 0) {
		int status, pidfd = (int)syscall(SYS_pidfd_open, cp->pid, 0);
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		if (waitpid(cp->pid, &status, WNOHANG) == 0) {
			if (!graceful || pidfd < 0 || poll(&pfd, 1, 1000) <= 0)
				hook_kill_group(cp->pid, pidfd);
			hook_reap(cp->pid, pidfd, &status);
		}
		if (pidfd >= 0)
			close(pidfd);
	}
	drain_stderr(cp, kind);
	if (cp->errfd >= 0)
		close(cp->errfd);
	cp->errfd = -1;
	cp->pid = 0;
	if (failed) {
		cp->backoff = cp->backoff == 0 ? BACKOFF_MIN :
		    (cp->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : cp->backoff * 2);
		cp->retry_at = now_s() + cp->backoff;
	}
}

static void
stop(struct coproc *cp, enum hook_kind kind, int failed)
{
	stop_process(cp, kind, failed, 0);
}

/* Connect, non-blocking, bounded by the deadline. */
static int
connect_to(const char *spec, const struct timespec *deadline, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		if (strlen(spec + 5) >= sizeof(su->sun_path)) {
			snprintf(why, whylen, "socket path too long");
			return -1;
		}
		su->sun_family = AF_UNIX;
		strlcpy(su->sun_path, spec + 5, sizeof(su->sun_path));
		len = sizeof(*su);
	} else {
		char host[128];
		const char *colon = strrchr(spec + 5, ':');
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		size_t hl;
		long port;

		if (colon == NULL || (hl = (size_t)(colon - (spec + 5))) == 0 || hl >= sizeof(host)) {
			snprintf(why, whylen, "expected inet:ADDRESS:PORT");
			return -1;
		}
		memcpy(host, spec + 5, hl);
		host[hl] = '\0';
		if (host[0] == '[' && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		port = strtol(colon + 1, NULL, 10);
		if (port <= 0 || port > 65535) {
			snprintf(why, whylen, "bad port");
			return -1;
		}
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons((unsigned short)port);
			len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((unsigned short)port);
			len = sizeof(*s6);
		} else {
			snprintf(why, whylen, "'%s' is not a numeric address", host);
			return -1;
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int err = 0;
		socklen_t elen = sizeof(err);
		long ms = hook_ms_left(deadline);
		if (ms <= 0 || poll(&pfd, 1, (int)ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			snprintf(why, whylen, "cannot connect: %s", err ? strerror(err) : "timed out");
			close(fd);
			return -1;
		}
	} else if (rc < 0) {
		snprintf(why, whylen, "cannot connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
start(struct coproc *cp, const struct config *cfg, enum hook_kind kind,
    const struct timespec *deadline)
{
	const struct hook_command *cmd = &cfg->hooks[kind];
	char why[256];

	if (strncmp(cmd->line, "inet:", 5) == 0 || strncmp(cmd->line, "unix:", 5) == 0) {
		cp->fd = connect_to(cmd->line, deadline, why, sizeof(why));
		if (cp->fd < 0) {
			log_warn("hook %s: %s: %s", hook_name(kind), cmd->line, why);
			return -1;
		}
	} else {
		int sv[2], ep[2], rc;
		char *env[4];
		char hookvar[64];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
		    pipe2(ep, O_CLOEXEC) < 0) {
			log_err("hook %s: socketpair/pipe: %s", hook_name(kind), strerror(errno));
			return -1;
		}
		sv[0] = hook_fd_high(sv[0]);
		sv[1] = hook_fd_high(sv[1]);
		ep[0] = hook_fd_high(ep[0]);
		ep[1] = hook_fd_high(ep[1]);
		snprintf(hookvar, sizeof(hookvar), "POSTERN_HOOK=%s", hook_name(kind));
		env[0] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
		env[1] = hookvar;
		env[2] = (char *)"POSTERN_PERSISTENT=1";
		env[3] = NULL;
		rc = hook_spawn(cmd->argv, env, cfg->hook_directory, sv[1], sv[1], ep[1], -1, &cp->pid);
		close(sv[1]);
		close(ep[1]);
		if (rc != 0) {
			log_err("hook %s: cannot run %s: %s (check the path and that the postern user may execute it)",
			    hook_name(kind), cmd->argv[0], strerror(rc));
			close(sv[0]);
			close(ep[0]);
			cp->pid = 0;
			return -1;
		}
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(ep[0], F_SETFL, O_NONBLOCK);
		cp->fd = sv[0];
		cp->errfd = ep[0];
		log_debug("hook %s: started persistent %s (pid %d)", hook_name(kind), cmd->argv[0], (int)cp->pid);
	}
	return 0;
}

/* Wait until the hook's socket is ready for EVENTS, logging its stderr
 * meanwhile.  0, -1 on an error, -2 when the deadline passed. */
static int
wait_hook(struct coproc *cp, enum hook_kind kind, short events, const struct timespec *deadline)
{
	struct pollfd pfd[2] = { { cp->fd, events, 0 }, { cp->errfd, POLLIN, 0 } };
	long ms = hook_ms_left(deadline);

	if (ms <= 0)
		return -2;
	if (poll(pfd, cp->errfd >= 0 ? 2 : 1, (int)ms) < 0 && errno != EINTR)
		return -1;
	if (cp->errfd >= 0 && pfd[1].revents)
		drain_stderr(cp, kind);
	return 0;
}

/* Write all of BUF before the deadline. */
static int
send_all(struct coproc *cp, enum hook_kind kind, const char *buf, size_t len,
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
		if ((rc = wait_hook(cp, kind, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* Read until an empty line; returns the length of ANSWER or -1/-2. */
static int
read_answer(struct coproc *cp, enum hook_kind kind, char *answer, size_t max,
    const struct timespec *deadline)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		char *end;
		int rc;

		answer[len] = '\0';
		if ((len >= 2 && (end = strstr(answer, "\n\n")) != NULL) ||
		    (len == 1 && answer[0] == '\n'))
			return (int)len;
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
		if ((rc = wait_hook(cp, kind, POLLIN, deadline)) < 0)
			return rc;
	}
}

/* The reply for a REJECT/DEFER text: the text's own enhanced status code if
 * it starts with one of the right class ("5.1.1 no such user"), as Postfix
 * does, else DFLT in front. */
static void
policy_reply(char *out, size_t outlen, const char *code, const char *dflt, const char *text)
{
	int has = text[0] == code[0] && text[1] == '.' && text[2] >= '0' && text[2] <= '9' &&
	    strchr(text, ' ') != NULL && strspn(text + 2, "0123456789.") == (size_t)(strchr(text, ' ') - text - 2);

	if (has)
		snprintf(out, outlen, "%s %.480s", code, text);
	else
		snprintf(out, outlen, "%s %s %.470s", code, dflt, text);
}

/* "action=..." to a verdict and, when the action carries text, a reply. */
static int
parse_action(enum hook_kind kind, const char *answer, struct hook_result *res)
{
	const char *p = answer, *text;
	char action[ANSWER_MAX];
	size_t alen;
	int code;

	action[0] = '\0';
	while (*p != '\0' && *p != '\n') {
		const char *eol = strchr(p, '\n');
		size_t l = eol != NULL ? (size_t)(eol - p) : strlen(p);
		if (l > 7 && strncasecmp(p, "action=", 7) == 0) {
			memcpy(action, p + 7, l - 7);
			action[l - 7] = '\0';
		}
		p += l + (eol != NULL);
	}
	if (action[0] == '\0')
		return -1;
	for (alen = 0; action[alen] != '\0'; alen++)
		if ((unsigned char)action[alen] < 0x20 || (unsigned char)action[alen] > 0x7e)
			return -1;
	alen = strcspn(action, " \t");
	text = action + alen;
	while (*text == ' ' || *text == '\t')
		text++;
	res->reply[0] = '\0';
	res->exit_status = 0;
	if ((alen == 2 && strncasecmp(action, "OK", 2) == 0) ||
	    (alen == 5 && strncasecmp(action, "DUNNO", 5) == 0) ||
	    (alen == 7 && strncasecmp(action, "PREPEND", 7) == 0) ||
	    (alen == 4 && strncasecmp(action, "WARN", 4) == 0) ||
	    (alen == 4 && strncasecmp(action, "INFO", 4) == 0)) {
		res->verdict = HOOK_ACCEPT;
		return 0;
	}
	if (alen == 6 && strncasecmp(action, "REJECT", 6) == 0) {
		res->verdict = HOOK_REJECT;
		res->exit_status = 1;
		if (*text != '\0')
			policy_reply(res->reply, sizeof(res->reply), kind == HOOK_AUTH ? "535" : "550",
			    kind == HOOK_AUTH ? "5.7.8" : "5.7.1", text);
		return 0;
	}
	if ((alen == 5 && strncasecmp(action, "DEFER", 5) == 0) ||
	    (alen == 15 && strncasecmp(action, "DEFER_IF_PERMIT", 15) == 0) ||
	    (alen == 15 && strncasecmp(action, "DEFER_IF_REJECT", 15) == 0)) {
		res->verdict = HOOK_TEMPFAIL;
		res->exit_status = 75;
		policy_reply(res->reply, sizeof(res->reply), kind == HOOK_AUTH ? "454" : "450",
		    kind == HOOK_AUTH ? "4.7.0" : "4.7.1", *text != '\0' ? text : "Error: try again later");
		return 0;
	}
	if (alen == 3 && action[0] >= '4' && action[0] <= '5' && (code = hook_reply_code(action)) != 0) {
		const char *t = text;
		int enhanced = t[0] == action[0] && t[1] == '.';
		res->verdict = action[0] == '4' ? HOOK_TEMPFAIL : HOOK_REJECT;
		res->exit_status = action[0] == '4' ? 75 : 1;
		if (enhanced)
			snprintf(res->reply, sizeof(res->reply), "%d %.480s", code, t);
		else
			snprintf(res->reply, sizeof(res->reply), "%d %c.7.1 %.470s", code, action[0],
			    *t != '\0' ? t : "Error: rejected by policy");
		return 0;
	}
	/* HOLD, DISCARD, FILTER, REDIRECT, BCC ...: not a decision we can act on */
	log_warn("hook %s: action '%.240s' is not supported by Postern: taken as DUNNO",
	    hook_name(kind), log_esc(action));
	res->verdict = HOOK_ACCEPT;
	return 0;
}

/* The request and the message (postern_data) go out together: the first
 * part of the message rides in the same write as the request, so a small
 * message costs the hook one wake-up, not two. */
static int
send_request(struct coproc *cp, enum hook_kind kind, const char *req, size_t reqlen,
    int fd, long long len, const struct timespec *deadline)
{
	static char buf[65536];
	long long done = 0;
	size_t first = 0;
	int rc;

	if (fd >= 0 && len > 0) {
		size_t want = (size_t)(len < (long long)sizeof(buf) - (long long)reqlen ?
		    len : (long long)(sizeof(buf) - reqlen));
		ssize_t n;
		if (reqlen < sizeof(buf) / 2) {
			memcpy(buf, req, reqlen);
			n = pread(fd, buf + reqlen, want, 0);
			if (n <= 0)
				return -1;
			first = (size_t)n;
			if ((rc = send_all(cp, kind, buf, reqlen + first, deadline)) < 0)
				return rc;
			done = (long long)first;
		} else if ((rc = send_all(cp, kind, req, reqlen, deadline)) < 0) {
			return rc;
		}
	} else {
		return send_all(cp, kind, req, reqlen, deadline);
	}
	while (done < len) {
		size_t want = (size_t)(len - done < (long long)sizeof(buf) ? len - done : (long long)sizeof(buf));
		ssize_t n = pread(fd, buf, want, (off_t)done);
		if (n <= 0)
			return -1;
		if ((rc = send_all(cp, kind, buf, (size_t)n, deadline)) < 0)
			return rc;
		done += n;
	}
	return 0;
}

void
policy_ask(const struct config *cfg, enum hook_kind kind, const char *attrs, size_t attrslen,
    int body_fd, long long body_len, struct hook_result *res)
{
	struct coproc *cp = &procs[kind];
	const struct hook_command *cmd = &cfg->hooks[kind];
	struct timespec deadline;
	char *req = NULL, answer[ANSWER_MAX];
	size_t reqlen = 0;
	int attempt, rc = 0;

	res->verdict = HOOK_FAILED;
	res->exit_status = -1;
	res->timed_out = 0;
	res->reply[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += cmd->timeout;

	/* The request: the name=value lines, an empty line. */
	if ((req = malloc(attrslen + 2)) == NULL)
		return;
	memcpy(req, attrs, attrslen);
	reqlen = attrslen;
	req[reqlen++] = '\n';

	/* A connection kept from earlier requests may have been closed by the
	 * other side meanwhile: one retry on a fresh one. */
	for (attempt = 0; attempt < 2; attempt++) {
		if (cp->fd < 0) {
			if (now_s() < cp->retry_at) {
				log_warn("hook %s: failing repeatedly; next start in %.1f s: temporary failure",
				    hook_name(kind), cp->retry_at - now_s());
				break;
			}
			if (start(cp, cfg, kind, &deadline) < 0) {
				stop(cp, kind, 1);
				break;
			}
			cp->fresh = 1;
		} else {
			cp->fresh = 0;
		}
		rc = send_request(cp, kind, req, reqlen, body_fd, body_len, &deadline);
		if (rc == 0) {
			rc = read_answer(cp, kind, answer, sizeof(answer), &deadline);
			if (rc >= 0) {
				if (parse_action(kind, answer, res) == 0) {
					cp->backoff = 0;
					break;
				}
				log_warn("hook %s: answer without a valid action= line: restarting it", hook_name(kind));
				rc = -1;
			}
		}
		if (rc == -2) {
			log_warn("hook %s: no answer within %d s: restarting it (temporary failure)",
			    hook_name(kind), cmd->timeout);
			res->timed_out = 1;
			stop(cp, kind, 1);
			break;
		}
		stop(cp, kind, cp->fresh);
		if (cp->fresh) {
			log_warn("hook %s: %s failed on its first request: temporary failure", hook_name(kind), cmd->line);
			break;
		}
	}
	if (req != NULL) {
		explicit_bzero(req, reqlen);    /* may hold a password */
		free(req);
	}
	drain_stderr(cp, kind);
}

void
policy_close_all(void)
{
	int k;

	for (k = 0; k < HOOK_COUNT; k++)
		if (procs[k].fd >= 0 || procs[k].pid > 0)
			stop_process(&procs[k], (enum hook_kind)k, 0, 1);
}
