/* SPDX-License-Identifier: ISC */
/*
 * hook.c - the exec hook runner, and the variable list hooks are told.
 *
 * The command is spawned (child.c: own session and process group, clean
 * signals, descriptors 0-3 only, in the hook directory); then one poll
 * loop until the hook exits or its time is up: feed fd 3, read stdout
 * (first 64 KiB kept), log stderr line by line, watch a pidfd for the
 * exit.  On timeout its whole group is killed and reaped (child.c).  The
 * answer is the exit status, with the PREPEND/WARN/INFO lines, at the data
 * stage RCPT lines (per-recipient answers), and the reply line on stdout.
 */
#include "autoconf.h"
#include "hook.h"
#include "rcpt_sink.h"
#include "spool.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STDOUT_MAX      65536   /* PREPEND and RCPT lines and a reply line */

void
hook_env_init(struct hook_env *e)
{
	memset(e, 0, sizeof(*e));
}

static void
env_push(struct hook_env *e, char *s)
{
	if (s == NULL)
		return;
	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 48;
		char **v = reallocarray(e->vars, cap, sizeof(*v));
		if (v == NULL) {
			free(s);
			return;
		}
		e->vars = v;
		e->cap = cap;
	}
	e->vars[e->n++] = s;
	e->vars[e->n] = NULL;
}

void
hook_env_addn(struct hook_env *e, const char *name, size_t nl, const char *value, size_t vl)
{
	char *s;

	if (e->add_request != NULL) {
		e->add_request(e, name, nl, value, vl);
		return;
	}
	if ((s = malloc(nl + vl + 2)) == NULL)
		return;
	memcpy(s, name, nl);
	s[nl] = '=';
	memcpy(s + nl + 1, value, vl);
	s[nl + 1 + vl] = '\0';
	env_push(e, s);
}

/* V in decimal, written backwards from END; returns where it starts. */
static char *
decimal(char *end, long long v)
{
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--end = '-';
	return end;
}

void
hook_env_add_num(struct hook_env *e, const char *name, long long v)
{
	char buf[24], *p = decimal(buf + sizeof(buf), v);

	hook_env_addn(e, name, strlen(name), p, (size_t)(buf + sizeof(buf) - p));
}

void
hook_env_add_dotnum(struct hook_env *e, const char *name, const char *a, long long n)
{
	char buf[128], *p = decimal(buf + sizeof(buf), n);
	size_t al = strlen(a);

	if (al + 1 > (size_t)(p - buf)) {
		hook_env_addf(e, name, "%s.%lld", a, n);        /* never for a session id */
		return;
	}
	*--p = '.';
	p -= al;
	memcpy(p, a, al);
	hook_env_addn(e, name, strlen(name), p, (size_t)(buf + sizeof(buf) - p));
}

void
hook_env_add_given(struct hook_env *e, const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		hook_env_add(e, name, value);
}

void
hook_env_addf(struct hook_env *e, const char *name, const char *fmt, ...)
{
	char buf[256], *v = buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {         /* rare: a long value */
		va_start(ap, fmt);
		n = vasprintf(&v, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
	}
	hook_env_add(e, name, v);
	if (v != buf)
		free(v);
}

void
hook_env_free(struct hook_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->vars[i]);
	free(e->vars);
	if (e->req != NULL) {
		explicit_bzero(e->req, e->reqlen);      /* may hold a password */
		free(e->req);
	}
	hook_env_init(e);
}

int
hook_reply_code(const char *line)
{
	int code;

	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return 0;
	if (line[3] != '\0' && line[3] != ' ')
		return 0;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	return code;
}

void
hook_result_init(struct hook_result *res)
{
	res->verdict = HOOK_FAILED;
	res->exit_status = -1;
	res->timed_out = 0;
	res->reply[0] = '\0';
	res->prepend_len = 0;
	res->prepend_lost = 0;
}

void
hook_result_prepend(struct hook_result *res, const char *text, size_t len)
{
	if (res->prepend_len + len + 1 > sizeof(res->prepend)) {
		res->prepend_lost = 1;
		return;
	}
	memcpy(res->prepend + res->prepend_len, text, len);
	res->prepend_len += len;
	res->prepend[res->prepend_len++] = '\n';
}

static void
classify(const struct hook_call *call, int status, struct hook_result *res)
{
	if (WIFEXITED(status)) {
		res->exit_status = WEXITSTATUS(status);
		switch (res->exit_status) {
		case 0: res->verdict = HOOK_ACCEPT; break;
		case 1: case 67: case 68: case 77: res->verdict = HOOK_REJECT; break;
		case 75: res->verdict = HOOK_TEMPFAIL; break;
		case 111:
			if (call->checkpassword) {
				res->verdict = HOOK_TEMPFAIL;
				break;
			}
			/* FALLTHROUGH */
		default:
			res->verdict = HOOK_FAILED;
			log_warn("hook %s: %s exited with status %d (not one of 0, 1, 67, 68, 75, 77): temporary failure",
			    call->name, call->cmd->argv[0], res->exit_status);
		}
	} else {
		res->verdict = HOOK_FAILED;
		res->exit_status = -1;
		if (WIFSIGNALED(status))
			log_warn("hook %s: %s killed by signal %d: temporary failure",
			    call->name, call->cmd->argv[0], WTERMSIG(status));
	}
}

/* "PREPEND Name: value", "WARN text", "INFO text" lines come first: take
 * the headers, log the rest.  Returns the offset of the first other line. */
static size_t
take_annotations(const struct hook_call *call, const char *out, size_t len, struct hook_result *res)
{
	char clean[1024];
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(out + off, '\n', len - off);
		size_t l = nl != NULL ? (size_t)(nl - (out + off)) : len - off, t = l;
		const char *line = out + off;

		if (t > 0 && line[t - 1] == '\r')
			t--;
		if (nl == NULL && len == STDOUT_MAX)
			break;          /* cut off: not a whole line */
		if (t >= 8 && strncmp(line, "PREPEND ", 8) == 0) {
			hook_result_prepend(res, line + 8, t - 8);
		} else if (call->kind == HOOK_DATA && t >= 5 && strncmp(line, "RCPT ", 5) == 0) {
			rcpt_sink_add(line + 5, t - 5);         /* per recipient: rcpt_sink.c */
		} else if (t >= 5 && (strncmp(line, "WARN ", 5) == 0 || strncmp(line, "INFO ", 5) == 0)) {
			log_sanitize(clean, sizeof(clean), line + 5, t - 5 < 256 ? t - 5 : 256);
			if (line[0] == 'W')
				log_warn("hook %s: WARN %s", call->name, clean);
			else
				log_info("hook %s: INFO %s", call->name, clean);
		} else {
			break;
		}
		off += l + (nl != NULL);
	}
	return off;
}

/* Keep the first other stdout line as the reply if its class matches the
 * verdict. */
static void
take_reply(const struct hook_call *call, const char *out, size_t len, struct hook_result *res)
{
	char line[sizeof(res->reply)];
	size_t n = 0, i;
	int code, want;

	res->reply[0] = '\0';
	i = take_annotations(call, out, len, res);
	for (; i < len && out[i] != '\n' && n + 1 < sizeof(line); i++) {
		unsigned char c = (unsigned char)out[i];
		if (c == '\r')
			continue;
		if (c < 0x20 || c > 0x7e)
			return;         /* garbage: use the default text */
		line[n++] = (char)c;
	}
	line[n] = '\0';
	if (n == 0 || (code = hook_reply_code(line)) == 0)
		return;
	switch (res->verdict) {
	case HOOK_ACCEPT: want = 2; break;
	case HOOK_REJECT: want = 5; break;
	case HOOK_TEMPFAIL: want = 4; break;
	default: return;
	}
	if (code / 100 != want) {
		log_warn("hook %s: reply '%.240s' does not match exit status %d: ignored",
		    call->name, log_esc(line), res->exit_status);
		return;
	}
	memcpy(res->reply, line, n + 1);
}

/* One run of an exec hook: its descriptors, its output so far, its time. */
struct run {
	const struct hook_call *call;
	int in, outp[2], errp[2], fd3p[2], pidfd;
	pid_t pid;
	int exited, status;
	char out[STDOUT_MAX];
	size_t outlen, fd3_off;
	struct stderr_log sl;
	struct timespec deadline;
};

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Pipes, then the program.  0, or -1 (logged). */
static int
run_start(struct run *r)
{
	const struct hook_call *call = r->call;
	int rc;

	if (call->stdin_fd >= 0) {
		r->in = call->stdin_fd;
		spool_shared(call->stdin_fd);   /* not kept for the next session */
	} else if ((r->in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (child_pipe(r->outp) < 0 || child_pipe(r->errp) < 0 ||
	    (call->fd3 != NULL && child_pipe(r->fd3p) < 0)) {
		log_err("hook %s: cannot make pipes: %s", r->sl.name, strerror(errno));
		return -1;
	}
	rc = child_spawn(call->cmd->argv, call->env != NULL ? call->env->vars : NULL,
	    call->directory, r->in, r->outp[1], r->errp[1], r->fd3p[0], &r->pid);
	if (rc != 0) {
		log_err("hook %s: cannot run %s: %s (check the path and that the postern user may execute it)",
		    r->sl.name, call->cmd->argv[0], strerror(rc));
		return -1;
	}
	child_reap_pending();
	close_fd(&r->outp[1]);
	close_fd(&r->errp[1]);
	if (r->fd3p[0] >= 0) {
		close_fd(&r->fd3p[0]);
		fcntl(r->fd3p[1], F_SETFL, O_NONBLOCK);
	}
	r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	r->deadline = deadline_in(call->cmd->timeout);
	return 0;
}

/* Keep the first STDOUT_MAX bytes of stdout; read the rest in large
 * pieces too, so that a hook flooding stdout is drained quickly (the bytes
 * past STDOUT_MAX are dropped). */
static void
read_stdout(struct run *r)
{
	static char buf[65536];
	ssize_t n = read(r->outp[0], buf, sizeof(buf));

	if (n > 0) {
		size_t take = (size_t)n;
		if (take > sizeof(r->out) - r->outlen)
			take = sizeof(r->out) - r->outlen;
		memcpy(r->out + r->outlen, buf, take);
		r->outlen += take;
	} else if (n == 0 || errno != EINTR) {
		close_fd(&r->outp[0]);
	}
}

static void
read_stderr(struct run *r)
{
	char buf[4096];
	ssize_t n = read(r->errp[0], buf, sizeof(buf));

	if (n > 0)
		stderr_feed(&r->sl, buf, (size_t)n);
	else if (n == 0 || errno != EINTR)
		close_fd(&r->errp[0]);
}

static void
feed_fd3(struct run *r, short revents)
{
	const struct hook_call *call = r->call;
	ssize_t w = 0;

	if (revents & POLLOUT)
		w = write(r->fd3p[1], call->fd3 + r->fd3_off, call->fd3_len - r->fd3_off);
	if (w > 0)
		r->fd3_off += (size_t)w;
	if (r->fd3_off >= call->fd3_len || (w < 0 && errno != EAGAIN && errno != EINTR) ||
	    (revents & (POLLERR | POLLHUP)))
		close_fd(&r->fd3p[1]);
}

/*
 * One poll over stdout, stderr, fd 3 and the pidfd.  Returns 1 to go on,
 * 0 when the run is over.  Once the hook is gone, what its pipes still hold
 * is collected, but a descendant that keeps them open does not hold us up.
 */
static int
run_poll(struct run *r, struct hook_result *res)
{
	struct pollfd pfd[4];
	int nfd = 0, iout = -1, ierr = -1, i3 = -1, ipid = -1, n;
	long left = deadline_ms_left(&r->deadline);

	if (left <= 0 && r->exited)
		return 0;       /* a descendant still writes: stop listening */
	if (left <= 0) {
		log_warn("hook %s: %s did not answer within %d s: killed (temporary failure)",
		    r->sl.name, r->call->cmd->argv[0], r->call->cmd->timeout);
		child_kill_group(r->pid, r->pidfd);
		res->timed_out = 1;
		return 0;
	}
	if (r->outp[0] >= 0) { iout = nfd; pfd[nfd++] = (struct pollfd){ r->outp[0], POLLIN, 0 }; }
	if (r->errp[0] >= 0) { ierr = nfd; pfd[nfd++] = (struct pollfd){ r->errp[0], POLLIN, 0 }; }
	if (r->fd3p[1] >= 0) { i3 = nfd; pfd[nfd++] = (struct pollfd){ r->fd3p[1], POLLOUT, 0 }; }
	if (!r->exited && r->pidfd >= 0) { ipid = nfd; pfd[nfd++] = (struct pollfd){ r->pidfd, POLLIN, 0 }; }
	if (r->exited)
		left = 0;
	else if (r->pidfd < 0 && left > 100)
		left = 100;     /* no pidfd: poll for the exit */
	n = poll(pfd, (nfds_t)nfd, (int)left);
	if ((n < 0 && errno != EINTR) || (n == 0 && r->exited))
		return 0;
	if (iout >= 0 && pfd[iout].revents)
		read_stdout(r);
	if (ierr >= 0 && pfd[ierr].revents)
		read_stderr(r);
	if (i3 >= 0 && pfd[i3].revents)
		feed_fd3(r, pfd[i3].revents);
	if (((ipid >= 0 && pfd[ipid].revents) || (r->pidfd < 0 && !r->exited)) &&
	    waitpid(r->pid, &r->status, WNOHANG) == r->pid)
		r->exited = 1;
	return !r->exited || r->outp[0] >= 0 || r->errp[0] >= 0;
}

/* The hook is reaped (killed first if it is still there) and judged. */
static void
run_finish(struct run *r, struct hook_result *res)
{
	if (r->sl.len > 0)
		stderr_flush_line(&r->sl);
	if (!r->exited) {
		if (!res->timed_out)
			child_kill_group(r->pid, r->pidfd);     /* poll failed: do not wait unbounded */
		if (child_reap(r->pid, r->pidfd, &r->status) < 0)
			res->timed_out = 1;
		r->exited = 1;
	}
	if (res->timed_out) {
		res->verdict = HOOK_FAILED;
		res->exit_status = -1;
	} else {
		classify(r->call, r->status, res);
		take_reply(r->call, r->out, r->outlen, res);
	}
}

void
hook_run(const struct hook_call *call, struct hook_result *res)
{
	static struct run r;    /* 64 KiB of output: not on the stack */

	memset(&r, 0, sizeof(r));
	r.call = call;
	r.in = r.pidfd = -1;
	r.outp[0] = r.outp[1] = r.errp[0] = r.errp[1] = r.fd3p[0] = r.fd3p[1] = -1;
	r.sl.name = call->name;
	hook_result_init(res);
	if (run_start(&r) == 0) {
		while (run_poll(&r, res))
			;
		run_finish(&r, res);
	}
	if (call->stdin_fd < 0)
		close_fd(&r.in);
	close_fd(&r.outp[0]);
	close_fd(&r.outp[1]);
	close_fd(&r.errp[0]);
	close_fd(&r.errp[1]);
	close_fd(&r.fd3p[0]);
	close_fd(&r.fd3p[1]);
	close_fd(&r.pidfd);
}
