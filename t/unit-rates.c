/* SPDX-License-Identifier: ISC */
/*
 * unit-rates.c - tests of the shared per-client rate table (common/rates.c):
 * counts per client and per kind, the fixed window, a flood of clients that
 * must evict (the table is bounded) without losing the one in use, and
 * counts shared with a forked process (as between workers).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "common/rates.h"

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
key4(uint8_t k[9], uint32_t addr)
{
	memset(k, 0, 9);
	k[0] = 4;
	memcpy(k + 1, &addr, 4);
}

int
main(void)
{
	struct rates *r = rates_create();
	uint8_t a[9], b[9], none[9] = { 0 };
	unsigned n = 0;
	uint32_t i;
	pid_t pid;
	int st;
	time_t end;

	ok(r != NULL, "the table is created");
	if (r == NULL)
		return done_testing();
	key4(a, 0x0100000a);
	key4(b, 0x0200000a);
	is_int(rates_add(r, a, RATE_MESSAGE, 1, 60), 1, "first event: 1");
	is_int(rates_add(r, a, RATE_MESSAGE, 1, 60), 2, "second event: 2");
	is_int(rates_add(r, a, RATE_MESSAGE, 0, 60), 2, "N = 0 only looks");
	is_int(rates_add(r, a, RATE_RECIPIENT, 3, 60), 3, "kinds are counted apart");
	is_int(rates_add(r, b, RATE_MESSAGE, 1, 60), 1, "clients are counted apart");
	is_int(rates_add(r, none, RATE_MESSAGE, 1, 60), 0, "no key (no client): nothing counted");

	/* the window: 1 s here; wait (bounded) until it has passed */
	rates_add(r, b, RATE_CONNECTION, 5, 1);
	for (end = time(NULL) + 3; time(NULL) <= end;) {
		if ((n = rates_add(r, b, RATE_CONNECTION, 0, 1)) == 0)
			break;
		usleep(50000);
	}
	is_int(n, 0, "a new window starts from 0");

	/* a flood of 100,000 clients: bounded, and the client in use, touched
	 * between them, keeps its count */
	for (i = 0; i < 100000; i++) {
		uint8_t k[9];
		key4(k, 0x0a000000u + i);
		rates_add(r, k, RATE_CONNECTION, 1, 60);
		if (i % 64 == 0)
			rates_add(r, a, RATE_AUTH_FAILURE, i == 0 ? 1 : 0, 3600);
	}
	is_int(rates_add(r, a, RATE_AUTH_FAILURE, 0, 3600), 1, "a client seen recently survives a flood");

	/* shared with a child, as between workers */
	if ((pid = fork()) == 0) {
		rates_add(r, a, RATE_MESSAGE, 5, 60);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	n = rates_add(r, a, RATE_MESSAGE, 0, 60);
	is_int(n, 7, "events counted by another process are seen");
	return done_testing();
}
