/* SPDX-License-Identifier: ISC */
/*
 * webhook-sign.c - HMAC-SHA256 over timestamp "." body for postern-webhook.
 */
#include "webhook-sign.h"

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <string.h>

int
webhook_sign(const char *secret, size_t secretlen, const char *timestamp,
    const char *body, size_t bodylen, char out[SIGN_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	gnutls_hmac_hd_t h;
	size_t i;

	if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, secret, secretlen) < 0)
		return -1;
	if (gnutls_hmac(h, timestamp, strlen(timestamp)) < 0 || gnutls_hmac(h, ".", 1) < 0 ||
	    (bodylen > 0 && gnutls_hmac(h, body, bodylen) < 0)) {
		gnutls_hmac_deinit(h, NULL);
		return -1;
	}
	gnutls_hmac_deinit(h, mac);
	for (i = 0; i < sizeof(mac); i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[SIGN_HEX_LEN] = '\0';
	return 0;
}
