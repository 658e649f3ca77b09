/* SPDX-License-Identifier: ISC */
/*
 * child.h - process plumbing for hooks (child.c): spawn a program in a
 * session of its own with descriptors 0-3 only, keep descriptors clear of
 * 0-3, kill a child's whole group, reap with a bound, log its stderr.
 */
#ifndef POSTERN_CHILD_H
#define POSTERN_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* posix_spawn ARGV in a session and process group of its own, with an
 * empty signal mask and default signal actions, descriptors IN, OUT, ERR
 * (and FD3 if >= 0) as 0-3 and nothing else, in DIRECTORY.  Returns 0 or
 * an errno value. */
int child_spawn(char *const argv[], char *const envp[], const char *directory,
    int in, int out, int err, int fd3, pid_t *pid);
/* A copy of FD at 10 or above (FD is closed), so dup2 onto 0-3 is safe. */
int child_fd_high(int fd);
/* pipe2(O_CLOEXEC) with both ends at 10 or above.  0 or -1. */
int child_pipe(int p[2]);
/* SIGTERM the process group and its leader, wait up to 2 s on PIDFD, then
 * SIGKILL them. */
void child_kill_group(pid_t pid, int pidfd);
/* Reap PID (killed already), waiting at most a second; 0, or -1 when it is
 * left for child_reap_pending(), which reaps such leftovers without
 * waiting. */
int child_reap(pid_t pid, int pidfd, int *status);
void child_reap_pending(void);

/* A child's stderr, logged line by line (at most STDERR_LINES per run) as
 * "hook NAME: line". */
#define STDERR_LINE_MAX 512
#define STDERR_LINES    50
struct stderr_log {
	char line[STDERR_LINE_MAX];
	size_t len;
	int lines;
	const char *name;
};
void stderr_feed(struct stderr_log *, const char *p, size_t n);
void stderr_flush_line(struct stderr_log *);

#endif
