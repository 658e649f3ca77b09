/*
 * scoreboard.c - the shared-memory scoreboard: an anonymous shared mapping
 * made before fork, so no file and no name is involved.  States are single
 * words written and read atomically; nothing needs a lock.
 */
#include "autoconf.h"
#include "scoreboard.h"

#include <stddef.h>
#include <sys/mman.h>

struct scoreboard *
scoreboard_create(int nslots)
{
	size_t len = sizeof(struct scoreboard) + (size_t)nslots * sizeof(struct slot);
	struct scoreboard *sb;

	sb = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
	sb->nslots = nslots;    /* the mapping is zero-filled: all SLOT_FREE */
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
