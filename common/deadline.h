/* SPDX-License-Identifier: ISC */
/*
 * deadline.h - time on CLOCK_MONOTONIC, the one clock every wait uses: a
 * deadline some seconds from now, how long is left before it (as a timespec
 * for ppoll, as milliseconds for poll), and how many seconds have passed
 * since a moment (for the log).
 */
#ifndef POSTERN_DEADLINE_H
#define POSTERN_DEADLINE_H

#include <time.h>

/* Now. */
struct timespec monotonic_now(void);
/* Now, in seconds with fractions (for back-off and retry times). */
double monotonic_seconds(void);
/* Seconds since START (a monotonic_now() value), with fractions. */
double monotonic_since(const struct timespec *start);

/* A deadline SECONDS from now. */
struct timespec deadline_in(int seconds);
/* A deadline MS milliseconds from now. */
struct timespec deadline_in_ms(long ms);
/* Move DEADLINE SECONDS later. */
void deadline_extend(struct timespec *deadline, long long seconds);
/* Milliseconds until DEADLINE, 0 or negative when it has passed. */
long deadline_ms_left(const struct timespec *deadline);
/* The time until DEADLINE in *LEFT; returns 0, or -1 when it has passed. */
int deadline_left(const struct timespec *deadline, struct timespec *left);

#endif
