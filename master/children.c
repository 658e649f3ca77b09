/* SPDX-License-Identifier: ISC */
/*
 * children.c - the master's signals to its workers and their hooks.
 *
 * The master is root and the scoreboard is writable by every worker, so
 * nothing read from it is ever signalled.  Workers are signalled by the pid
 * fork() returned (kept in the master's own memory; a pid is cleared when
 * it is reaped, so it cannot have been reused).  A worker's hooks are its
 * children: found by scanning /proc for that parent pid, pinned with a
 * pidfd, checked again (still that worker's child, after the pidfd pinned
 * it), then killed with their process group if they lead one of their own
 * (hooks run under setsid).  A group the master itself is in is never
 * signalled.
 */
#include "autoconf.h"
#include "children.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int
signal_worker(pid_t pid, int sig)
{
	if (pid <= 1 || pid == getpid()) {
		errno = EINVAL;
		return -1;
	}
	return kill(pid, sig);
}

/* The parent pid of PID from /proc/PID/stat, or -1. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;
	long ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold anything, so from the last ')' */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

static void
kill_hook(pid_t worker, pid_t pid)
{
	int pidfd;

	if (pid <= 1 || (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		return;
	/* Pinned now: if it is still the worker's child, it is the hook. */
	if (parent_of(pid) == worker) {
		if (getpgid(pid) == pid && pid != getpgrp())
			kill(-pid, SIGKILL);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	}
	close(pidfd);
}

void
kill_hooks(pid_t worker)
{
	struct dirent *de;
	DIR *d;

	if (worker <= 1 || (d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end == '\0' && pid > 1 && parent_of((pid_t)pid) == worker)
			kill_hook(worker, (pid_t)pid);
	}
	closedir(d);
}
