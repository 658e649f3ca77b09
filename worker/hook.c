/*
 * hook.c - the hook runner.
 *
 * posix_spawn (vfork-fast) the command in a new process group with an empty
 * signal mask, default signal actions, the given environment and descriptors
 * 0-3 only, in the hook directory.  Then one poll loop until the hook exits
 * or its time is up: feed fd 3, read stdout (first 4 KiB kept), log stderr
 * line by line, watch a pidfd for the exit.  On timeout the whole process
 * group and its leader get SIGTERM, then SIGKILL.  The hook leads a session
 * of its own (setsid), so it cannot move into the worker's process group;
 * a leader that still is not gone a moment after SIGKILL is reaped later
 * (hook_reap_pending), never waited for without a bound.
 */
#include "autoconf.h"
#include "hook.h"
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

#define STDOUT_MAX      4096
#define KILL_GRACE_MS   2000
#define REAP_MS         1000    /* after SIGKILL: then the leader is reaped later */
#define PENDING_MAX     16

void
hook_env_init(struct hook_env *e)
{
	memset(e, 0, sizeof(*e));
}

void
hook_env_init_request(struct hook_env *e)
{
	memset(e, 0, sizeof(*e));
	e->request = 1;
}

/* Request mode: "name=value\n" appended to the buffer. */
static void
request_add(struct hook_env *e, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), i;
	int upper = name[0] >= 'A' && name[0] <= 'Z';

	if (upper && strncmp(name, "POSTERN_", 8) != 0)
		return;         /* PATH, PROTO, TCP*: environment only */
	if (memchr(value, '\n', vl) != NULL)
		return;         /* lists go as repeated attributes */
	if (e->reqlen + nl + vl + 3 > e->reqcap) {
		size_t cap = e->reqcap ? e->reqcap * 2 : 4096;
		char *p;
		while (cap < e->reqlen + nl + vl + 3)
			cap *= 2;
		if ((p = realloc(e->req, cap)) == NULL)
			return;
		e->req = p;
		e->reqcap = cap;
	}
	for (i = 0; i < nl; i++)
		e->req[e->reqlen++] = upper ? (char)tolower((unsigned char)name[i]) : name[i];
	e->req[e->reqlen++] = '=';
	memcpy(e->req + e->reqlen, value, vl);
	e->reqlen += vl;
	e->req[e->reqlen++] = '\n';
	e->req[e->reqlen] = '\0';
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
hook_env_add(struct hook_env *e, const char *name, const char *value)
{
	char *s;

	if (value == NULL)
		return;
	if (e->request) {
		request_add(e, name, value);
		return;
	}
	if (asprintf(&s, "%s=%s", name, value) < 0)
		return;
	env_push(e, s);
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

/* A copy of FD at 10 or above, so dup2 onto 0-3 never meets itself. */
int
hook_fd_high(int fd)
{
	int n;

	if (fd < 0 || fd >= 10)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return n;
}

static int
make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = hook_fd_high(p[0]);
	p[1] = hook_fd_high(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		if (p[0] >= 0) close(p[0]);
		if (p[1] >= 0) close(p[1]);
		return -1;
	}
	return 0;
}

long
hook_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}


void
stderr_flush_line(struct stderr_log *sl)
{
	char clean[STDERR_LINE_MAX * 4 + 1];

	if (sl->lines < STDERR_LINES) {
		log_sanitize(clean, sizeof(clean), sl->line, sl->len);
		log_info("hook %s: %s", sl->name, clean);
	} else if (sl->lines == STDERR_LINES) {
		log_info("hook %s: further stderr output discarded", sl->name);
	}
	sl->lines++;
	sl->len = 0;
}

void
stderr_feed(struct stderr_log *sl, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			stderr_flush_line(sl);
		} else if (sl->len < sizeof(sl->line)) {
			sl->line[sl->len++] = p[i];
		}
	}
}

/* SIG to the hook's process group and to its leader: a leader that left
 * its group is still reached (by its pidfd: PID is our unreaped child). */
static void
signal_hook(pid_t pid, int pidfd, int sig)
{
	if (pid <= 1)
		return;
	kill(-pid, sig);
	if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		kill(pid, sig);
}

void
hook_kill_group(pid_t pid, int pidfd)
{
	struct pollfd pfd = { pidfd, POLLIN, 0 };

	signal_hook(pid, pidfd, SIGTERM);
	if (pidfd >= 0) {
		while (poll(&pfd, 1, KILL_GRACE_MS) < 0 && errno == EINTR)
			;
	}
	signal_hook(pid, pidfd, SIGKILL);
}

/* Hooks killed but not yet reaped (a leader in uninterruptible sleep). */
static pid_t pending[PENDING_MAX];

void
hook_reap_pending(void)
{
	int i, status;

	for (i = 0; i < PENDING_MAX; i++)
		if (pending[i] > 0 && waitpid(pending[i], &status, WNOHANG) != 0)
			pending[i] = 0;
}

int
hook_reap(pid_t pid, int pidfd, int *status)
{
	struct timespec deadline;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += REAP_MS / 1000;
	for (;;) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		long left = hook_ms_left(&deadline);
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 0;
		if (left <= 0)
			break;
		if (pidfd < 0 || left > 50)
			left = 50;
		poll(pidfd >= 0 ? &pfd : NULL, pidfd >= 0 ? 1 : 0, (int)left);
	}
	log_warn("hook process %d did not end after SIGKILL: it is reaped later", (int)pid);
	for (i = 0; i < PENDING_MAX; i++)
		if (pending[i] <= 0) {
			pending[i] = pid;
			break;
		}
	return -1;
}

int
hook_spawn(char *const argv[], char *const envp[], const char *directory,
    int in, int out, int err, int fd3, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	if (fd3 >= 0)
		posix_spawn_file_actions_adddup2(&fa, fd3, 3);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	posix_spawn_file_actions_addclosefrom_np(&fa, fd3 >= 0 ? 4 : 3);
#endif
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
	posix_spawn_file_actions_addchdir_np(&fa, directory != NULL ? directory : "/");
#endif
	/* Caught signals are reset by execve itself; the ignored ones
	 * (SIGPIPE, SIGHUP in a worker) must be given back their default. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
#ifdef POSIX_SPAWN_SETSID
	/* A session of its own: the hook cannot join another process group
	 * of the worker's session, so killing its group reaches it. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
#else
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
#endif
	rc = posix_spawn(pid, argv[0], &fa, &at, argv, envp != NULL ? envp : (char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
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
			    hook_name(call->kind), call->cmd->argv[0], res->exit_status);
		}
	} else {
		res->verdict = HOOK_FAILED;
		res->exit_status = -1;
		if (WIFSIGNALED(status))
			log_warn("hook %s: %s killed by signal %d: temporary failure",
			    hook_name(call->kind), call->cmd->argv[0], WTERMSIG(status));
	}
}

/* Keep the first stdout line as the reply if its class matches the verdict. */
static void
take_reply(const struct hook_call *call, const char *out, size_t len, struct hook_result *res)
{
	char line[sizeof(res->reply)];
	size_t n = 0, i;
	int code, want;

	res->reply[0] = '\0';
	for (i = 0; i < len && out[i] != '\n' && n + 1 < sizeof(line); i++) {
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
		    hook_name(call->kind), log_esc(line), res->exit_status);
		return;
	}
	memcpy(res->reply, line, n + 1);
}

void
hook_run(const struct hook_call *call, struct hook_result *res)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, fd3p[2] = { -1, -1 };
	int in = -1, pidfd = -1, status = 0, exited = 0, rc;
	char out[STDOUT_MAX];
	size_t outlen = 0, fd3_off = 0;
	struct stderr_log sl = { .len = 0, .lines = 0, .name = hook_name(call->kind) };
	struct timespec deadline;
	pid_t pid;

	res->verdict = HOOK_FAILED;
	res->exit_status = -1;
	res->timed_out = 0;
	res->reply[0] = '\0';

	if (call->stdin_fd >= 0)
		in = call->stdin_fd;
	else if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		goto fail;
	if (make_pipe(outp) < 0 || make_pipe(errp) < 0 ||
	    (call->fd3 != NULL && make_pipe(fd3p) < 0)) {
		log_err("hook %s: cannot make pipes: %s", sl.name, strerror(errno));
		goto fail;
	}
	rc = hook_spawn(call->cmd->argv, call->env != NULL ? call->env->vars : NULL,
	    call->directory, in, outp[1], errp[1], fd3p[0], &pid);
	if (rc != 0) {
		log_err("hook %s: cannot run %s: %s (check the path and that the postern user may execute it)",
		    sl.name, call->cmd->argv[0], strerror(rc));
		goto fail;
	}
	hook_reap_pending();
	close(outp[1]); outp[1] = -1;
	close(errp[1]); errp[1] = -1;
	if (fd3p[0] >= 0) {
		close(fd3p[0]);
		fd3p[0] = -1;
		fcntl(fd3p[1], F_SETFL, O_NONBLOCK);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	deadline.tv_sec = 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += call->cmd->timeout;

	while (!exited || outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[4];
		int nfd = 0, iout = -1, ierr = -1, i3 = -1, ipid = -1, n;
		long left = hook_ms_left(&deadline);

		if (left <= 0 && exited)
			break;          /* a descendant still writes: stop listening */
		if (left <= 0) {
			log_warn("hook %s: %s did not answer within %d s: killed (temporary failure)",
			    sl.name, call->cmd->argv[0], call->cmd->timeout);
			if (!exited)
				hook_kill_group(pid, pidfd);
			res->timed_out = 1;
			break;
		}
		if (outp[0] >= 0) { iout = nfd; pfd[nfd++] = (struct pollfd){ outp[0], POLLIN, 0 }; }
		if (errp[0] >= 0) { ierr = nfd; pfd[nfd++] = (struct pollfd){ errp[0], POLLIN, 0 }; }
		if (fd3p[1] >= 0) { i3 = nfd; pfd[nfd++] = (struct pollfd){ fd3p[1], POLLOUT, 0 }; }
		if (!exited && pidfd >= 0) { ipid = nfd; pfd[nfd++] = (struct pollfd){ pidfd, POLLIN, 0 }; }
		if (exited) {
			/* The hook is gone; collect what its pipes still hold, but a
			 * descendant that keeps them open must not hold us up. */
			left = 0;
		} else if (pidfd < 0 && left > 100) {
			left = 100;     /* no pidfd: poll for the exit */
		}
		n = poll(pfd, (nfds_t)nfd, (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && exited)
			break;
		if (iout >= 0 && pfd[iout].revents) {
			char buf[4096];
			ssize_t r = read(outp[0], buf, sizeof(buf));
			if (r > 0) {
				size_t take = (size_t)r;
				if (take > sizeof(out) - outlen)
					take = sizeof(out) - outlen;
				memcpy(out + outlen, buf, take);
				outlen += take;
			} else if (r == 0 || errno != EINTR) {
				close(outp[0]);
				outp[0] = -1;
			}
		}
		if (ierr >= 0 && pfd[ierr].revents) {
			char buf[4096];
			ssize_t r = read(errp[0], buf, sizeof(buf));
			if (r > 0) {
				stderr_feed(&sl, buf, (size_t)r);
			} else if (r == 0 || errno != EINTR) {
				close(errp[0]);
				errp[0] = -1;
			}
		}
		if (i3 >= 0 && pfd[i3].revents) {
			ssize_t w = 0;
			if (pfd[i3].revents & POLLOUT)
				w = write(fd3p[1], call->fd3 + fd3_off, call->fd3_len - fd3_off);
			if (w > 0)
				fd3_off += (size_t)w;
			if (fd3_off >= call->fd3_len || (w < 0 && errno != EAGAIN && errno != EINTR) ||
			    (pfd[i3].revents & (POLLERR | POLLHUP))) {
				close(fd3p[1]);
				fd3p[1] = -1;
			}
		}
		if ((ipid >= 0 && pfd[ipid].revents) || (pidfd < 0 && !exited)) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				exited = 1;
		}
	}
	if (sl.len > 0)
		stderr_flush_line(&sl);
	if (!exited) {
		if (!res->timed_out)
			hook_kill_group(pid, pidfd);    /* poll failed: do not wait unbounded */
		if (hook_reap(pid, pidfd, &status) < 0 || res->timed_out)
			res->timed_out = 1;
		exited = 1;
	}
	if (res->timed_out) {
		res->verdict = HOOK_FAILED;
		res->exit_status = -1;
	} else {
		classify(call, status, res);
		take_reply(call, out, outlen, res);
	}
fail:
	if (call->stdin_fd < 0 && in >= 0)
		close(in);
	if (outp[0] >= 0) close(outp[0]);
	if (outp[1] >= 0) close(outp[1]);
	if (errp[0] >= 0) close(errp[0]);
	if (errp[1] >= 0) close(errp[1]);
	if (fd3p[0] >= 0) close(fd3p[0]);
	if (fd3p[1] >= 0) close(fd3p[1]);
	if (pidfd >= 0) close(pidfd);
}
