/* SPDX-License-Identifier: ISC */
/*
 * delivery.h - DATA and BDAT (RFC 3030): receiving the message and handing
 * it on (delivery.c).
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

struct session;

void smtp_data(struct session *, const char *arg);
void smtp_bdat(struct session *, const char *arg);

#endif
