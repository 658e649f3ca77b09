/* SPDX-License-Identifier: ISC */
/*
 * deliver.h - the data step of postern-forward: stream the message of a
 * postern_data request downstream and turn the server's answer(s) into
 * posternd's answer.
 */
#ifndef POSTERN_FORWARD_DELIVER_H
#define POSTERN_FORWARD_DELIVER_H

#include <stdio.h>

#include "relay.h"

/* Reads exactly SIZE bytes of message from RD whatever happens, writes the
 * whole answer (rcpt_action= lines for LMTP, action=, empty line) to OUT. */
void fwd_data(struct fwd *f, const struct preq *q, struct preader *rd,
    unsigned long long size, FILE *out);

#endif
