/* SPDX-License-Identifier: ISC */
/*
 * fsync-pair.c - fsync() two descriptors at the same time.
 *
 * postern-maildir's last two syncs (the new/ directory, and the file's
 * link count) do not depend on each other: issued together they cost one
 * wait for the disk instead of two.  One helper thread, started on first
 * use with every signal blocked (signals stay the main thread's), waits
 * for a descriptor, syncs it and reports; the caller syncs the other one
 * meanwhile.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "fsync-pair.h"

#define HELPER_STACK	(64 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int job_fd = -1;			/* for the helper; -1: none */
static int job_err;			/* its result */
static int job_done;
static int helper_state;		/* 0 not tried, 1 running, -1 none */

/* helper - sync what fsync_pair() hands over, forever */
static void *
helper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		int fd, err;

		while (job_fd < 0)
			pthread_cond_wait(&cond, &lock);
		fd = job_fd;
		pthread_mutex_unlock(&lock);
		err = fsync(fd) < 0 ? errno : 0;
		pthread_mutex_lock(&lock);
		job_fd = -1;
		job_err = err;
		job_done = 1;
		pthread_cond_broadcast(&cond);
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
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) {
		helper_state = -1;
		return (-1);
	}
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		/* It only calls fsync(): a small stack is plenty. */
		(void)pthread_attr_setstacksize(&attr, HELPER_STACK);
		rc = pthread_create(&t, &attr, helper, NULL);
		(void)pthread_attr_destroy(&attr);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		(void)pthread_detach(t);
	helper_state = rc == 0 ? 1 : -1;
	return (rc == 0 ? 0 : -1);
}

void
fsync_pair(int a, int b, int *err_a, int *err_b)
{
	if (start_helper() < 0) {
		*err_a = fsync(a) < 0 ? errno : 0;
		*err_b = fsync(b) < 0 ? errno : 0;
		return;
	}
	pthread_mutex_lock(&lock);
	job_done = 0;
	job_fd = b;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);

	*err_a = fsync(a) < 0 ? errno : 0;

	pthread_mutex_lock(&lock);
	while (!job_done)
		pthread_cond_wait(&cond, &lock);
	*err_b = job_err;
	pthread_mutex_unlock(&lock);
}
