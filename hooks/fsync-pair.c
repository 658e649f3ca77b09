/* SPDX-License-Identifier: ISC */
/*
 * fsync-pair.c - fsync() two descriptors at the same time.
 *
 * postern-maildir's last two syncs (the new/ directory, and the file's
 * link count) do not depend on each other: issued together they cost one
 * wait for the disk instead of two.  One helper thread, started on first
 * use with every signal blocked (signals stay the main thread's), waits
 * for a descriptor, syncs it and reports; the caller syncs the other one
 * meanwhile.  Two semaphores hand the work over: a post wakes the other
 * side only when it sleeps (one futex call each way at most).
 */

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include "fsync-pair.h"

#define HELPER_STACK	(64 * 1024)

static sem_t go;			/* job_fd is set */
static sem_t done;			/* job_err is set */
static int job_fd;
static int job_err;
static int helper_state;		/* 0 not tried, 1 running, -1 none */

/* helper - sync what fsync_pair() hands over, forever */
static void *
helper(void *arg)
{
	(void)arg;
	for (;;) {
		while (sem_wait(&go) < 0)
			;		/* EINTR */
		job_err = fsync(job_fd) < 0 ? errno : 0;
		(void)sem_post(&done);
	}
	return (NULL);
}

/* start_helper - the helper thread, signals blocked; 0 or -1 */
static int
start_helper(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int rc;

	if (helper_state != 0)
		return (helper_state > 0 ? 0 : -1);
	helper_state = -1;
	if (sem_init(&go, 0, 0) < 0 || sem_init(&done, 0, 0) < 0)
		return (-1);
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return (-1);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		/* It only calls fsync(): a small stack is plenty. */
		(void)pthread_attr_setstacksize(&attr, HELPER_STACK);
		rc = pthread_create(&t, &attr, helper, NULL);
		(void)pthread_attr_destroy(&attr);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return (-1);
	(void)pthread_detach(t);
	helper_state = 1;
	return (0);
}

void
fsync_pair(int a, int b, int *err_a, int *err_b)
{
	if (start_helper() == 0) {
		job_fd = b;
		if (sem_post(&go) == 0) {
			*err_a = fsync(a) < 0 ? errno : 0;
			while (sem_wait(&done) < 0)
				;	/* EINTR */
			*err_b = job_err;
			return;
		}
	}
	*err_a = fsync(a) < 0 ? errno : 0;
	*err_b = fsync(b) < 0 ? errno : 0;
}
