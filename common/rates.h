/* SPDX-License-Identifier: ISC */
/*
 * rates.h - anvil-style event counts per client (an IPv4 address or an IPv6
 * /64, the scoreboard's client key), shared by every worker: connections,
 * messages and recipients per minute, AUTH failures per hour.
 *
 * A fixed-size table in an anonymous shared mapping the master makes before
 * it forks; only workers read or write it (the master never looks at it).
 * Counts are per fixed window; an entry not seen for longest is evicted when
 * a new client needs room, so the table is bounded and a flood of addresses
 * only forgets old clients sooner.
 */
#ifndef POSTERN_RATES_H
#define POSTERN_RATES_H

#include <stdint.h>
#include "scoreboard.h"     /* SB_KEY_LEN: the client key */

enum rate_kind { RATE_CONNECTION, RATE_MESSAGE, RATE_RECIPIENT, RATE_AUTH_FAILURE, RATE_KINDS };

struct rates;

/* The shared table, or NULL (errno set). */
struct rates *rates_create(void);

/* Add N events of KIND for the client KEY now (N may be 0: only look) and
 * return the count in the current window of WINDOW seconds, N included.
 * Returns 0 when the table could not be locked (fails open). */
unsigned rates_add(struct rates *, const uint8_t key[SB_KEY_LEN], enum rate_kind, unsigned n, int window);

#endif
