/* SPDX-License-Identifier: ISC */
/*
 * webhook-sign.h - the signature postern-webhook puts on each request:
 * hex HMAC-SHA256(secret, timestamp "." body), with GnuTLS's gnutls_hmac.
 */
#ifndef POSTERN_WEBHOOK_SIGN_H
#define POSTERN_WEBHOOK_SIGN_H

#include <stddef.h>

#define SIGN_HEX_LEN	64

/* OUT gets SIGN_HEX_LEN hex digits and a NUL; 0, or -1 on a GnuTLS error. */
int webhook_sign(const char *secret, size_t secretlen, const char *timestamp,
    const char *body, size_t bodylen, char out[SIGN_HEX_LEN + 1]);

#endif
