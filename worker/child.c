/* SPDX-License-Identifier: ISC */
/*
 * child.c - the process plumbing that exec hooks (hook.c) and persistent
 * hooks (policy.c) share: posix_spawn (vfork-fast) in a session and process
 * group of its own with an empty signal mask, default signal actions and
 * descriptors 0-3 only; descriptors kept clear of 0-3; SIGTERM then SIGKILL
 * to the whole group and to the leader by its pidfd; reaping with a bound
 * (a leader that is not gone a moment after SIGKILL is reaped later); and
 * a child's stderr logged line by line.
 */
#include "autoconf.h"
#include "child.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS   2000
#define REAP_MS         1000    /* after SIGKILL: then the leader is reaped later */
#define PENDING_MAX     16

/* A copy of FD at 10 or above, so dup2 onto 0-3 never meets itself. */
int
child_fd_high(int fd)
{
	int n;

	if (fd < 0 || fd >= 10)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return n;
}

int
child_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = child_fd_high(p[0]);
	p[1] = child_fd_high(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		if (p[0] >= 0) close(p[0]);
		if (p[1] >= 0) close(p[1]);
		return -1;
	}
	return 0;
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
signal_child(pid_t pid, int pidfd, int sig)
{
	if (pid <= 1)
		return;
	kill(-pid, sig);
	if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		kill(pid, sig);
}

void
child_kill_group(pid_t pid, int pidfd)
{
	struct pollfd pfd = { pidfd, POLLIN, 0 };
	struct timespec grace = deadline_in_ms(KILL_GRACE_MS);
	long left;

	signal_child(pid, pidfd, SIGTERM);
	if (pidfd >= 0) {
		/* a signal does not restart the grace period */
		while ((left = deadline_ms_left(&grace)) > 0 && poll(&pfd, 1, (int)left) < 0 &&
		    errno == EINTR)
			;
	}
	signal_child(pid, pidfd, SIGKILL);
}

/* Hooks killed but not yet reaped (a leader in uninterruptible sleep). */
static pid_t pending[PENDING_MAX];

void
child_reap_pending(void)
{
	int i, status;

	for (i = 0; i < PENDING_MAX; i++)
		if (pending[i] > 0 && waitpid(pending[i], &status, WNOHANG) != 0)
			pending[i] = 0;
}

int
child_reap(pid_t pid, int pidfd, int *status)
{
	struct timespec deadline = deadline_in_ms(REAP_MS);
	int i;

	for (;;) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		long left = deadline_ms_left(&deadline);
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
child_spawn(char *const argv[], char *const envp[], const char *directory,
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
