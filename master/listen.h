/* SPDX-License-Identifier: ISC */
/*
 * listen.h - bind the listening sockets of every endpoint (as root), or
 * take them over from the running configuration on a reload.
 */
#ifndef POSTERN_LISTEN_H
#define POSTERN_LISTEN_H

#include <stddef.h>

struct config;
struct listener;

/* The sockets of every listen address of CFG into OUT (at most MAX): an
 * address OLD (NOLD entries; NULL, 0 at start) has a socket for is taken
 * over (its fd in OLD becomes -1), the others are bound.  Returns the
 * number of sockets, or -1 with a reason in err: then OLD is as it was and
 * the sockets bound so far are closed. */
int listen_all(const struct config *cfg, struct listener *old, int nold,
    struct listener *out, int max, char *err, size_t errlen);
/* Bind one address SPEC of endpoint number ENDPOINT into *OUT.  Returns 0,
 * or -1 with a reason in err. */
int listen_one(const char *spec, int endpoint, struct listener *out,
    char *err, size_t errlen);
void listen_close(struct listener *l, int n);

#endif
