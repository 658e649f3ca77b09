/* SPDX-License-Identifier: ISC */
/*
 * rates.c - the shared per-client rate table (see rates.h).
 *
 * Open addressing: a client's key hashes to a bucket of RATES_PROBE entries;
 * it takes its own entry, a free one, or evicts the one used least recently
 * (by a use counter, not the clock: exact LRU within the bucket).
 * One spin lock guards the table: every operation is a few dozen loads and
 * stores.  A worker killed while holding it would stop every other, so a
 * waiter that spun long enough checks that the holder is alive and takes
 * the lock over from a dead one; if the holder lives but does not let go,
 * the waiter gives up and counts nothing (fails open).
 */
#include "autoconf.h"
#include "rates.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RATES_ENTRIES 8192      /* a power of 2 */
#define RATES_PROBE   8
#define SPINS         20000

struct rate_entry {
	uint8_t key[SB_KEY_LEN];         /* [0] == 0: free */
	uint64_t seen;          /* the table's tick at the last use */
	int64_t start[RATE_KINDS];
	uint32_t count[RATE_KINDS];
};

struct rates {
	int32_t lock;           /* the holder's pid, 0 when free */
	uint64_t tick;          /* counts uses: least recently used = smallest */
	struct rate_entry e[RATES_ENTRIES];
};

struct rates *
rates_create(void)
{
	struct rates *r = mmap(NULL, sizeof(struct rates), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return r == MAP_FAILED ? NULL : r;      /* zero-filled: all free */
}

static int
lock(struct rates *r)
{
	int32_t me = (int32_t)getpid(), free_ = 0, holder;
	int i;

	for (i = 0; i < SPINS; i++) {
		free_ = 0;
		if (__atomic_compare_exchange_n(&r->lock, &free_, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return 0;
		if (i % 64 == 63)
			sched_yield();
	}
	holder = __atomic_load_n(&r->lock, __ATOMIC_RELAXED);
	if (holder > 0 && kill((pid_t)holder, 0) < 0 && errno == ESRCH &&
	    __atomic_compare_exchange_n(&r->lock, &holder, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;       /* its holder died holding it */
	return -1;
}

static void
unlock(struct rates *r)
{
	__atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE);
}

static uint32_t
hash(const uint8_t key[SB_KEY_LEN])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < SB_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/* The entry of KEY: its own, a free one, or the least recently seen. */
static struct rate_entry *
find(struct rates *r, const uint8_t key[SB_KEY_LEN])
{
	uint32_t b = hash(key) & (RATES_ENTRIES - 1) & ~(uint32_t)(RATES_PROBE - 1);
	struct rate_entry *victim = NULL;
	int i;

	for (i = 0; i < RATES_PROBE; i++) {
		struct rate_entry *e = &r->e[b + (uint32_t)i];
		if (e->key[0] != 0 && memcmp(e->key, key, SB_KEY_LEN) == 0)
			return e;
		if (victim == NULL || (victim->key[0] != 0 && (e->key[0] == 0 || e->seen < victim->seen)))
			victim = e;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, SB_KEY_LEN);
	return victim;
}

unsigned
rates_add(struct rates *r, const uint8_t key[SB_KEY_LEN], enum rate_kind kind, unsigned n, int window)
{
	struct rate_entry *e;
	struct timespec ts;
	unsigned count;

	if (r == NULL || key[0] == 0 || lock(r) < 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e = find(r, key);
	if (e->count[kind] == 0 || ts.tv_sec - e->start[kind] >= window) {
		e->start[kind] = ts.tv_sec;
		e->count[kind] = 0;
	}
	if (e->count[kind] <= UINT32_MAX - n)
		e->count[kind] += n;
	e->seen = ++r->tick;
	count = e->count[kind];
	unlock(r);
	return count;
}
