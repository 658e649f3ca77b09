/* SPDX-License-Identifier: ISC */
/*
 * sockconnect.h - connect to inet:HOST:PORT or unix:/path within a deadline.
 */
#ifndef POSTERN_SOCKCONNECT_H
#define POSTERN_SOCKCONNECT_H

#include <stddef.h>
#include <time.h>
#include <sys/socket.h>

/* A connected non-blocking, close-on-exec socket, or -1 with the reason in
 * WHY.  DEADLINE is on CLOCK_MONOTONIC (deadline_in, common/deadline.h). */
int sock_connect(const char *spec, const struct timespec *deadline, char *why,
    size_t whylen);
/* The same for an address already parsed. */
int sock_connect_addr(const struct sockaddr *sa, socklen_t len,
    const struct timespec *deadline, char *why, size_t whylen);

#endif
