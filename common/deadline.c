/* SPDX-License-Identifier: ISC */
/*
 * deadline.c - deadline arithmetic on CLOCK_MONOTONIC (see deadline.h), so
 * that no file does timespec sums of its own.
 */
#include "autoconf.h"
#include "deadline.h"

struct timespec
monotonic_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

double
monotonic_seconds(void)
{
	struct timespec t = monotonic_now();

	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double
monotonic_since(const struct timespec *start)
{
	struct timespec now = monotonic_now();

	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

struct timespec
deadline_in(int seconds)
{
	struct timespec t = monotonic_now();

	t.tv_sec += seconds;
	return t;
}

struct timespec
deadline_in_ms(long ms)
{
	struct timespec t = monotonic_now();

	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_nsec -= 1000000000L;
		t.tv_sec++;
	}
	return t;
}

void
deadline_extend(struct timespec *deadline, long long seconds)
{
	deadline->tv_sec += (time_t)seconds;
}

long
deadline_ms_left(const struct timespec *deadline)
{
	struct timespec now = monotonic_now();

	return (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

int
deadline_left(const struct timespec *deadline, struct timespec *left)
{
	struct timespec now = monotonic_now();

	left->tv_sec = deadline->tv_sec - now.tv_sec;
	left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_nsec += 1000000000L;
		left->tv_sec--;
	}
	return left->tv_sec < 0 ? -1 : 0;
}
