/* SPDX-License-Identifier: ISC */
/*
 * listen.h - bind the listening sockets of every endpoint (as root).
 */
#ifndef POSTERN_LISTEN_H
#define POSTERN_LISTEN_H

#include <stddef.h>

struct config;
struct listener;

/* Bind every listen address of CFG.  Returns the number of sockets, or -1
 * with a reason in err (all sockets opened so far are closed). */
int listen_all(const struct config *cfg, struct listener *out, int max,
    char *err, size_t errlen);
/* Bind one address SPEC of endpoint number ENDPOINT into *OUT.  Returns 0,
 * or -1 with a reason in err. */
int listen_one(const char *spec, int endpoint, struct listener *out,
    char *err, size_t errlen);
void listen_close(struct listener *l, int n);

#endif
