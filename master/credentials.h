/* SPDX-License-Identifier: ISC */
/*
 * credentials.h - whom the workers run as: [server] user and group looked
 * up by the root master, refused if they would leave a worker with root's
 * uid, gid or supplementary group 0.
 */
#ifndef POSTERN_CREDENTIALS_H
#define POSTERN_CREDENTIALS_H

#include <stddef.h>
#include <sys/types.h>

struct config;

struct credentials {
	int drop;               /* the master is root: workers switch user */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* Resolve server.user/server.group of CFG (nothing when not run as root:
 * then drop is 0).  Returns 0 or -1 with err set. */
int credentials_lookup(const struct config *cfg, struct credentials *cr,
    char *err, size_t errlen);

#endif
