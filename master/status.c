/* SPDX-License-Identifier: ISC */
/*
 * status.c - `posternd -S` (status.h).  The scoreboard is shared with every
 * worker, so nothing in it is trusted here: the slot count comes from the
 * file's size, each text field is read within its bounds and printed with
 * anything but printable ASCII replaced, an age is clamped.  The file is
 * mapped read-only: -S changes nothing.
 */
#include "autoconf.h"
#include "status.h"
#include "../common/config.h"
#include "../common/scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_MAX_SLOTS 4096   /* the master's own slot count */

static const char *const state_names[] = { "free", "starting", "idle", "busy", "exiting" };

/* FIELD (SB_TEXT bytes, maybe not NUL-terminated) as printable text. */
static const char *
text(const char *field, char out[SB_TEXT])
{
	size_t i;

	for (i = 0; i < SB_TEXT - 1 && field[i] != '\0'; i++)
		out[i] = field[i] > 0x20 && field[i] < 0x7f ? field[i] : '?';
	if (i == 0)
		out[i++] = '-';
	out[i] = '\0';
	return out;
}

/* Is a daemon holding the pidfile's lock (libbsd pidfile_open)? */
static int
running(const char *pidfile)
{
	int fd = open(pidfile, O_RDONLY | O_CLOEXEC), held;

	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static void
print_slot(FILE *out, const struct slot *sl, uint32_t st, int64_t now)
{
	char ep[SB_TEXT], cl[SB_TEXT], step[SB_TEXT];
	struct slot_status ss;
	int64_t age;

	if (st != SLOT_BUSY) {
		fprintf(out, "%-8d %s\n", (int)sl->pid, state_names[st]);
		return;
	}
	memcpy(&ss, &sl->status, sizeof(ss));  /* one read of what a worker may change */
	age = now - ss.since;
	if (ss.since <= 0 || age < 0)
		age = 0;
	fprintf(out, "%-8d %-9s %-16s %-40s %-16s %llds\n", (int)sl->pid, state_names[st],
	    text(ss.endpoint, ep), text(ss.client, cl), text(ss.step, step), (long long)age);
}

static int
print_board(FILE *out, const struct scoreboard *sb, int n)
{
	int count[5] = { 0 }, total = 0;
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	fprintf(out, "%-8s %-9s %-16s %-40s %-16s %s\n", "PID", "STATE", "ENDPOINT", "CLIENT",
	    "STEP", "AGE");
	for (int i = 0; i < n; i++) {
		uint32_t st = __atomic_load_n(&sb->slots[i].state, __ATOMIC_ACQUIRE);
		if (st == SLOT_FREE || st > SLOT_EXITING)
			continue;
		print_slot(out, &sb->slots[i], st, (int64_t)t.tv_sec);
		count[st]++;
		total++;
	}
	fprintf(out, "total: %d workers, %d busy, %d idle, %d starting, %d exiting\n", total,
	    count[SLOT_BUSY], count[SLOT_IDLE], count[SLOT_STARTING], count[SLOT_EXITING]);
	return 0;
}

int
status_print(const struct config *cfg, FILE *out)
{
	char path[sizeof(cfg->pidfile) + 8];
	struct stat st;
	void *map;
	int fd, n, rc;

	if (cfg->pidfile[0] == '\0') {
		fprintf(stderr, "posternd: -S needs [server] pidfile: the status file is PIDFILE.status\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s.status", cfg->pidfile);
	if (!running(cfg->pidfile)) {
		fprintf(stderr, "posternd: not running (no daemon holds %s)\n", cfg->pidfile);
		return 1;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fprintf(stderr, "posternd: cannot open %s: %s%s\n", path, strerror(errno),
		    errno == EACCES ? " (run -S as root)" : "");
		return 1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (size_t)st.st_size < scoreboard_size(0)) {
		fprintf(stderr, "posternd: %s is not a status file written by posternd\n", path);
		close(fd);
		return 1;
	}
	n = (int)(((size_t)st.st_size - scoreboard_size(0)) / sizeof(struct slot));
	if (n > STATUS_MAX_SLOTS)
		n = STATUS_MAX_SLOTS;
	map = mmap(NULL, scoreboard_size(n), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "posternd: cannot map %s: %s\n", path, strerror(errno));
		return 1;
	}
	rc = print_board(out, map, n);
	munmap(map, scoreboard_size(n));
	return rc;
}
