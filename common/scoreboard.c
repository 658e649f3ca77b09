/* SPDX-License-Identifier: ISC */
/*
 * scoreboard.c - the shared-memory scoreboard: an anonymous shared mapping
 * made before fork, so no file and no name is involved.  States are single
 * words written and read atomically; nothing needs a lock.
 */
#include "autoconf.h"
#include "scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The number of slots, in each process's own memory: sb->nslots is
 * writable by every worker and bounds no loop. */
static int nslots;

/* This worker's slot, for the status calls; NULL in the master. */
static struct slot *own;

/* Where a scan of the slots may stop: sb->used, read once, and never
 * beyond this process's own nslots (a worker may have written sb->used:
 * all it gains is what writing the slots' states would give it). */
static int
in_use(const struct scoreboard *sb)
{
	uint32_t u = __atomic_load_n(&sb->used, __ATOMIC_ACQUIRE);

	return u < (uint32_t)nslots ? (int)u : nslots;
}

size_t
scoreboard_size(int n)
{
	return sizeof(struct scoreboard) + (size_t)n * sizeof(struct slot);
}

/* A new file at PATH (an old one, or a link put there, is removed first),
 * sized LEN; its descriptor or -1. */
static int
status_file(const char *path, size_t len)
{
	int fd, e;

	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)len) < 0) {
		e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	return fd;
}

struct scoreboard *
scoreboard_create(int n, const char *path)
{
	size_t len = scoreboard_size(n);
	struct scoreboard *sb;
	int fd = -1, e;

	if (path != NULL && (fd = status_file(path, len)) < 0)
		return NULL;
	sb = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	e = errno;
	if (fd >= 0)
		close(fd);
	if (sb == MAP_FAILED) {
		errno = e;
		return NULL;
	}
	sb->nslots = n;         /* the mapping is zero-filled: all SLOT_FREE */
	nslots = n;
	return sb;
}

void
scoreboard_set(struct scoreboard *sb, int slot, enum slot_state st)
{
	__atomic_store_n(&sb->slots[slot].state, (uint32_t)st, __ATOMIC_RELEASE);
}

enum slot_state
scoreboard_get(const struct scoreboard *sb, int slot)
{
	return (enum slot_state)__atomic_load_n(&sb->slots[slot].state, __ATOMIC_ACQUIRE);
}

void
scoreboard_slot_start(struct scoreboard *sb, int slot, pid_t pid, int64_t started)
{
	if ((uint32_t)slot >= sb->used)
		__atomic_store_n(&sb->used, (uint32_t)slot + 1, __ATOMIC_RELEASE);
	sb->slots[slot].pid = pid;
	sb->slots[slot].sessions = 0;
	sb->slots[slot].started = started;
	memset(sb->slots[slot].client, 0, SB_KEY_LEN);
	memset(&sb->slots[slot].status, 0, sizeof(sb->slots[slot].status));
}

void
scoreboard_set_pid(struct scoreboard *sb, int slot, pid_t pid)
{
	sb->slots[slot].pid = pid;
}

void
scoreboard_count_session(struct scoreboard *sb, int slot)
{
	sb->slots[slot].sessions++;
}

uint64_t
scoreboard_sessions(const struct scoreboard *sb, int slot)
{
	return sb->slots[slot].sessions;
}

void
scoreboard_set_client(struct scoreboard *sb, int slot, const struct sockaddr *sa)
{
	if (sa == NULL)
		memset(sb->slots[slot].client, 0, SB_KEY_LEN);
	else
		scoreboard_client_key(sa, sb->slots[slot].client);
}

uint8_t *
scoreboard_client(struct scoreboard *sb, int slot)
{
	return sb->slots[slot].client;
}

void
scoreboard_client_key(const struct sockaddr *sa, uint8_t key[SB_KEY_LEN])
{
	memset(key, 0, SB_KEY_LEN);
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key[0] = 4;
			memcpy(key + 1, &a->s6_addr[12], 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a->s6_addr, 8);         /* the /64 */
		}
	}
}

int
scoreboard_count_client(const struct scoreboard *sb, int self, const uint8_t key[SB_KEY_LEN])
{
	int i, n = 0, end = in_use(sb);

	for (i = 0; i < end; i++)
		if (i != self && scoreboard_get(sb, i) == SLOT_BUSY &&
		    memcmp(sb->slots[i].client, key, SB_KEY_LEN) == 0)
			n++;
	return n;
}

int
scoreboard_count_busy(const struct scoreboard *sb)
{
	int i, n = 0, end = in_use(sb);

	for (i = 0; i < end; i++)
		if (scoreboard_get(sb, i) == SLOT_BUSY)
			n++;
	return n;
}

void
scoreboard_set_self(struct scoreboard *sb, int slot)
{
	own = slot >= 0 && slot < nslots ? &sb->slots[slot] : NULL;
}

void
scoreboard_status_session(const char *endpoint, const char *client)
{
	struct timespec t;

	if (own == NULL)
		return;
	memset(&own->status, 0, sizeof(own->status));
	if (endpoint == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	strlcpy(own->status.endpoint, endpoint, sizeof(own->status.endpoint));
	strlcpy(own->status.client, client, sizeof(own->status.client));
	own->status.since = (int64_t)t.tv_sec;
}

void
scoreboard_status_step(const char *step)
{
	if (own != NULL)
		strlcpy(own->status.step, step != NULL ? step : "", sizeof(own->status.step));
}
