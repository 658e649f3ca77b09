/* SPDX-License-Identifier: ISC */
/*
 * limits.h - what one session may cost the pool beyond the protocol's own
 * limits: junk commands, stress mode for every session once all workers are
 * busy, BDAT chunks refused without reading their octets.
 */
#ifndef POSTERN_LIMITS_H
#define POSTERN_LIMITS_H

#include <stddef.h>
#include "command.h"

struct session;

/* Read the next command line as netio_getline does, within the session's
 * command_timeout, waking every few seconds to notice stress mode (whose
 * shorter timeout then applies to this wait too). */
int limits_getline(struct session *, char *line, size_t max, size_t *len);

/* Before VERB is dispatched: enter stress mode if every worker is busy now;
 * count junk commands.  Returns 0 to go on, -1 when the session is over
 * (421 4.7.0 queued). */
int limits_command(struct session *, enum smtp_verb verb);

/* BDAT N outside a transaction, or beyond max_message_size: refused without
 * reading the N octets.  Returns LIMITS_BDAT_READ when the chunk is to be
 * read; otherwise the reply is queued and the caller resets the transaction
 * (LIMITS_BDAT_TOO_BIG only), then calls limits_bdat_drop().  REPLIES: how
 * many replies a chunk over the size limit gets (one per recipient for BDAT
 * LAST on an LMTP endpoint). */
enum { LIMITS_BDAT_READ, LIMITS_BDAT_REFUSED, LIMITS_BDAT_TOO_BIG };
int limits_bdat(struct session *, unsigned long long n, int replies);
/* Drop the N octets of a refused chunk if all are buffered; otherwise the
 * session ends (421 queued). */
void limits_bdat_drop(struct session *, unsigned long long n);

#endif
