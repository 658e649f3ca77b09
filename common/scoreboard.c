/*
 * scoreboard.c - the shared-memory scoreboard: an anonymous shared mapping
 * made before fork, so no file and no name is involved.  States are single
 * words written and read atomically; nothing needs a lock.
 */
#include "autoconf.h"
#include "scoreboard.h"

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* The number of slots, in each process's own memory: sb->nslots is
 * writable by every worker and bounds no loop. */
static int nslots;

struct scoreboard *
scoreboard_create(int n)
{
	size_t len = sizeof(struct scoreboard) + (size_t)n * sizeof(struct slot);
	struct scoreboard *sb;

	sb = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
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
	sb->slots[slot].pid = pid;
	sb->slots[slot].sessions = 0;
	sb->slots[slot].started = started;
	memset(sb->slots[slot].client, 0, SB_KEY_LEN);
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
	int i, n = 0;

	for (i = 0; i < nslots; i++)
		if (i != self && scoreboard_get(sb, i) == SLOT_BUSY &&
		    memcmp(sb->slots[i].client, key, SB_KEY_LEN) == 0)
			n++;
	return n;
}

int
scoreboard_count_busy(const struct scoreboard *sb)
{
	int i, n = 0;

	for (i = 0; i < nslots; i++)
		if (scoreboard_get(sb, i) == SLOT_BUSY)
			n++;
	return n;
}
