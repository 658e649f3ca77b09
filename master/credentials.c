/* SPDX-License-Identifier: ISC */
/*
 * credentials.c - look up the workers' user and group as root, and refuse
 * any that would give a worker root's powers: uid 0, gid 0, or gid 0 among
 * the supplementary groups initgroups() would give it (the worker calls
 * initgroups for [server] user; a user in group "root" would keep access
 * to root-group files).
 */
#include "autoconf.h"
#include "credentials.h"
#include "../common/config.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GROUPS_MAX 1024

/* Is gid 0 among USER's groups (with primary group GID)?  -1 if unknown. */
static int
in_group_zero(const char *user, gid_t gid)
{
	gid_t groups[GROUPS_MAX];
	int n = GROUPS_MAX, i;

	if (getgrouplist(user, gid, groups, &n) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (groups[i] == 0)
			return 1;
	return 0;
}

static int
lookup_group(const struct config *cfg, struct credentials *cr, char *err, size_t errlen)
{
	struct group *gr;

	if (cfg->group[0] == '\0')
		return 0;
	if ((gr = getgrnam(cfg->group)) == NULL) {
		snprintf(err, errlen, "[server] group: no such group '%s'", cfg->group);
		return -1;
	}
	if (gr->gr_gid == 0) {
		snprintf(err, errlen, "[server] group: '%s' is gid 0; workers must not run as root", cfg->group);
		return -1;
	}
	cr->gid = gr->gr_gid;
	return 0;
}

int
credentials_lookup(const struct config *cfg, struct credentials *cr,
    char *err, size_t errlen)
{
	struct passwd *pw;
	int z;

	memset(cr, 0, sizeof(*cr));
	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "[server] user: no such user '%s' (create it: useradd --system %s)",
		    cfg->user, cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "[server] user: '%s' is root; workers must not run as root", cfg->user);
		return -1;
	}
	cr->drop = 1;
	cr->uid = pw->pw_uid;
	cr->gid = pw->pw_gid;
	strlcpy(cr->user, cfg->user, sizeof(cr->user));
	if (lookup_group(cfg, cr, err, errlen) < 0)
		return -1;
	if ((z = in_group_zero(cfg->user, cr->gid)) > 0) {
		snprintf(err, errlen, "[server] user: '%s' is a member of group 0 (root); workers must not be (gpasswd -d %s root)",
		    cfg->user, cfg->user);
		return -1;
	}
	if (z < 0) {
		snprintf(err, errlen, "[server] user: cannot list the groups of '%s'", cfg->user);
		return -1;
	}
	return 0;
}
