/* SPDX-License-Identifier: ISC */
/*
 * lmtp.h - what an LMTP endpoint (RFC 2033; endpoint key protocol = lmtp)
 * does differently: LHLO instead of EHLO and HELO, and after the message one
 * reply per accepted recipient, in RCPT order.
 */
#ifndef POSTERN_LMTP_H
#define POSTERN_LMTP_H

struct session;
struct hook_result;

/* VERB (HELO, EHLO or LHLO) is the wrong greeting for this endpoint: the
 * 500 reply is queued and 1 returned; else 0. */
int lmtp_wrong_hello(struct session *, const char *verb);
/*
 * The replies to the message on an LMTP endpoint, one per recipient: its
 * own refusal from the data steps (rcpt_answers.c), else RES's refusal when
 * the message as a whole was not taken (ACCEPTED 0 and no per-recipient
 * table: too big, a local error), else its own 2xx text, RES's reply, or
 * "250 2.0.0 Ok: queued as QID".  Each is logged.
 */
void lmtp_replies(struct session *, int accepted, const struct hook_result *res);
/* How many replies a BDAT that failed as a whole gets: one per recipient
 * for BDAT LAST on an LMTP endpoint, else one. */
int lmtp_bdat_replies(const struct session *, int last);

#endif
