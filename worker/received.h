/* SPDX-License-Identifier: ISC */
/*
 * received.h - the Received: trace header (RFC 5321 4.4).
 */
#ifndef POSTERN_RECEIVED_H
#define POSTERN_RECEIVED_H

struct session;

/* Write the Received: trace header for the current transaction to the spool. */
void received_write(struct session *, const char *queue_id);

#endif
