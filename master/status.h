/* SPDX-License-Identifier: ISC */
/*
 * status.h - `posternd -S`: print the running daemon's pool, one line per
 * worker, from the scoreboard file beside its pidfile (PIDFILE.status).
 */
#ifndef POSTERN_STATUS_H
#define POSTERN_STATUS_H

#include <stdio.h>

struct config;

/* Print the pool of the daemon that runs with CFG to OUT.  Returns the
 * exit status: 0, or 1 with a message on stderr (not running, no access). */
int status_print(const struct config *cfg, FILE *out);

#endif
