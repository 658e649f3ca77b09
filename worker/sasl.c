/* SPDX-License-Identifier: ISC */
/*
 * sasl.c - decoding what an AUTH client sends (RFC 4954): strict base64
 * (the decoding itself is GnuTLS's) and the PLAIN message of RFC 4616.
 * No I/O here, so the fuzzer can reach all of it.
 */
#include "autoconf.h"
#include "sasl.h"

#include <string.h>
#include <gnutls/gnutls.h>

/* Strict base64: only the alphabet and trailing padding, length a multiple
 * of 4; GnuTLS does the decoding.  Returns the length or -1. */
int
sasl_decode64(const char *in, char *out, size_t outmax)
{
	gnutls_datum_t src, dst;
	size_t len = strlen(in), i;
	int n;

	if (len % 4 != 0)
		return SASL_DECODE_MALFORMED;
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || (c == '=' && i >= len - 2)))
			return SASL_DECODE_MALFORMED;
		if (c != '=' && i > 0 && in[i - 1] == '=')
			return SASL_DECODE_MALFORMED;
	}
	if (len == 0)
		return 0;
	src.data = (unsigned char *)in;
	src.size = (unsigned)len;
	if (gnutls_base64_decode2(&src, &dst) < 0)
		return SASL_DECODE_MALFORMED;
	if (dst.size >= outmax) {
		explicit_bzero(dst.data, dst.size);
		gnutls_free(dst.data);
		return SASL_DECODE_TOO_LONG;
	}
	memcpy(out, dst.data, dst.size);
	out[dst.size] = '\0';
	n = (int)dst.size;
	explicit_bzero(dst.data, dst.size);
	gnutls_free(dst.data);
	return n;
}

int
sasl_has_ctl(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return 1;
	return 0;
}

/* [authzid] NUL authcid NUL passwd -- exactly two NULs. */
int
sasl_split_plain(const char *msg, int len, struct sasl_credentials *cr)
{
	const char *nul1, *nul2, *end = msg + len;
	size_t zlen, ulen, plen;

	if ((nul1 = memchr(msg, '\0', (size_t)len)) == NULL)
		return -1;
	if ((nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1))) == NULL)
		return -1;
	if (memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)) != NULL)
		return -1;
	zlen = (size_t)(nul1 - msg);
	ulen = (size_t)(nul2 - nul1 - 1);
	plen = (size_t)(end - nul2 - 1);
	if (ulen == 0 || zlen > SASL_FIELD_MAX || ulen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX)
		return -1;
	memcpy(cr->authzid, msg, zlen);
	cr->authzid[zlen] = '\0';
	memcpy(cr->user, nul1 + 1, ulen);
	cr->user[ulen] = '\0';
	memcpy(cr->password, nul2 + 1, plen);
	cr->password[plen] = '\0';
	return 0;
}

