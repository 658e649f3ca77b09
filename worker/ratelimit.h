/* SPDX-License-Identifier: ISC */
/*
 * ratelimit.h - the per-client limits of [limits]: limit_exempt, and the
 * anvil-style rates (max_connection_rate, max_message_rate,
 * max_recipient_rate per minute, max_auth_failure_rate per hour) counted in
 * the shared table of common/rates.c.
 */
#ifndef POSTERN_RATELIMIT_H
#define POSTERN_RATELIMIT_H

#include <stdint.h>
#include <sys/socket.h>
#include "../common/config.h"
#include "../common/rates.h"

struct session;

/* The worker's shared table (from the master, before any session). */
void ratelimit_init(struct rates *);

/* Is the client SA in the endpoint's limit_exempt? */
int ratelimit_exempt(const struct limits *, const struct sockaddr *sa);

/* A new connection from KEY: counted; returns the count when it is over
 * max_connection_rate (the caller refuses it), else 0. */
unsigned ratelimit_connection(const struct limits *, const uint8_t key[SB_KEY_LEN]);

/* Before MAIL, RCPT and AUTH: count the event (not for AUTH: failures are
 * counted by ratelimit_auth_failed) and, over the limit, queue the refusal
 * and return -1: 421 4.7.0 and disconnection for messages, 452 4.7.1 for
 * this recipient, 454 4.7.0 then 421 4.7.0 for AUTH. */
int ratelimit_mail(struct session *);
int ratelimit_rcpt(struct session *);
int ratelimit_auth(struct session *);
void ratelimit_auth_failed(struct session *);

#endif
