/* SPDX-License-Identifier: ISC */
/*
 * esmtp_ext.h - the newer SMTP extensions: REQUIRETLS (RFC 8689), LIMITS
 * (RFC 9422) and MT-PRIORITY (RFC 6710): what EHLO offers for them, the
 * per-session transaction limit LIMITS announces, what the steps see.
 * The MAIL parameters themselves are parsed in esmtp_params.c.
 */
#ifndef POSTERN_ESMTP_EXT_H
#define POSTERN_ESMTP_EXT_H

struct session;
struct hook_env;

/* Queue the EHLO lines: REQUIRETLS (under TLS only), LIMITS, MT-PRIORITY. */
void esmtp_ext_advertise(struct session *);

/* May a new transaction start (max_transactions)?  1, or 0 with the
 * refusal queued. */
int esmtp_ext_mail_allowed(struct session *);

/* POSTERN_REQUIRETLS and POSTERN_MT_PRIORITY for the transaction. */
void esmtp_ext_env(const struct session *, struct hook_env *);

#endif
