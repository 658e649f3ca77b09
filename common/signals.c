/* SPDX-License-Identifier: ISC */
/*
 * signals.c - catch a set of signals, blocked but while waiting (see
 * signals.h).
 */
#include "autoconf.h"
#include "signals.h"

#include <string.h>

void
signals_catch(const int sigs[], void (*handler)(int), const sigset_t *base,
    sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block = *base;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	*waitmask = *base;
	for (i = 0; sigs[i] != 0; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
		sigdelset(waitmask, sigs[i]);
	}
	sigprocmask(SIG_SETMASK, &block, NULL);
}
