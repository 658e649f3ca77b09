/* SPDX-License-Identifier: ISC */
/*
 * transaction.h - the mail transaction (RFC 5321 3.3): MAIL, RCPT, and the
 * reset that ends one (DATA and BDAT: delivery.h).
 */
#ifndef POSTERN_TRANSACTION_H
#define POSTERN_TRANSACTION_H

struct session;

void smtp_mail(struct session *, const char *arg);
void smtp_rcpt(struct session *, const char *arg);
/* Forget the transaction in progress (RSET, EHLO, STARTTLS, end of DATA). */
void transaction_reset(struct session *);

#endif
