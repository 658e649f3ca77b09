/* SPDX-License-Identifier: ISC */
/*
 * signals.h - the one way master and worker catch their signals: a handler
 * for each, blocked at all times but while the process waits (ppoll,
 * epoll_pwait with the wait mask), so that a handler only ever runs there.
 */
#ifndef POSTERN_SIGNALS_H
#define POSTERN_SIGNALS_H

#include <signal.h>

/* Catch each signal of SIGS (ended by 0) with HANDLER and block them on
 * top of BASE (the mask becomes BASE plus SIGS); *WAITMASK is set to BASE
 * without SIGS, the mask to wait with. */
void signals_catch(const int sigs[], void (*handler)(int), const sigset_t *base,
    sigset_t *waitmask);

#endif
