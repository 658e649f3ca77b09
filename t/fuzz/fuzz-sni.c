/* SPDX-License-Identifier: ISC */
/*
 * fuzz-sni.c - libFuzzer harness for the client's server name rules
 * (common/tls_sni.c): whatever a client puts in its SNI extension,
 * tls_sni_normalize accepts only a bounded lower-case DNS name (it reaches
 * POSTERN_TLS_SNI and policy requests), and tls_sni_lookup on it finds an
 * exact or a one-label wildcard entry or nothing.
 */
#include "autoconf.h"
#include "common/tls_sni.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *n)
{
	size_t len = strnlen(n, TLS_SNI_NAME_MAX + 1), i;

	if (len == 0 || len > TLS_SNI_NAME_MAX || n[0] == '.' || n[len - 1] == '.' ||
	    n[0] == '-' || n[len - 1] == '-')
		abort();
	for (i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			abort();
		if (c == '.' && n[i + 1] == '.')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char c0, c1;
	static struct tls_sni_name names[] = {
		{ "*.example.com", 0 }, { "mx.example.com", 1 },
	};
	gnutls_certificate_credentials_t creds[2] = {
		(gnutls_certificate_credentials_t)(void *)&c0, (gnutls_certificate_credentials_t)(void *)&c1
	};
	struct tls_sni t = { NULL, 0, creds, 2, names, 2 };
	char out[TLS_SNI_NAME_MAX + 1];
	gnutls_certificate_credentials_t got;
	const char *dot;

	if (tls_sni_normalize((const char *)data, size, out, sizeof(out)) < 0)
		return 0;
	check_name(out);
	got = tls_sni_lookup(&t, out);
	dot = strchr(out, '.');
	if (strcmp(out, "mx.example.com") == 0) {
		if (got != creds[1])
			abort();
	} else if (dot != NULL && strcmp(dot, ".example.com") == 0) {
		if (got != creds[0])
			abort();
	} else if (got != NULL) {
		abort();
	}
	return 0;
}
