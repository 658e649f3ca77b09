/* SPDX-License-Identifier: ISC */
/*
 * unit-tls-sni.c - tests of the server-name rules (common/tls_sni.c): which
 * client names are usable (tls_sni_normalize) and which certificate a name
 * picks (tls_sni_lookup: exact, then *.PARENT, else none).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "common/tls_sni.h"

static void
norm(const char *in, const char *want, const char *name)
{
	char out[TLS_SNI_NAME_MAX + 1];
	int rc = tls_sni_normalize(in, strlen(in), out, sizeof(out));

	if (want == NULL)
		is_int(rc, -1, name);
	else
		is_str(rc == 0 ? out : "(refused)", want, name);
}

int
main(void)
{
	char long_label[80], long_name[300], nul[] = "a.test\0evil";
	gnutls_certificate_credentials_t c[3] = {
		(gnutls_certificate_credentials_t)&c[0], (gnutls_certificate_credentials_t)&c[1],
		(gnutls_certificate_credentials_t)&c[2]
	};
	struct tls_sni_name names[] = {     /* sorted, as tls_sni_load leaves them */
		{ "*.w.test", 2 }, { "a.test", 0 }, { "b.test", 1 }, { "x.w.test", 0 },
	};
	struct tls_sni t = { NULL, 0, c, 3, names, 4 }, empty = { 0 };
	char out[TLS_SNI_NAME_MAX + 1];
	int i;

	norm("mx.example.com", "mx.example.com", "a plain name is kept");
	norm("MX.Example.COM", "mx.example.com", "names are lower-cased");
	norm("mx.example.com.", "mx.example.com", "a trailing dot is dropped");
	norm("xn--bcher-kva.example", "xn--bcher-kva.example", "an A-label is a name");
	norm("_dmarc.example", "_dmarc.example", "an underscore is allowed (as in the DNS)");
	norm("", NULL, "empty: refused");
	norm(".", NULL, "only a dot: refused");
	norm("a..b", NULL, "an empty label: refused");
	norm("a..", NULL, "two trailing dots: refused (found by make fuzz)");
	norm(".a.b", NULL, "a leading dot: refused");
	norm("-a.b", NULL, "a label starting with '-': refused");
	norm("a-.b", NULL, "a label ending in '-': refused");
	norm("a.b-", NULL, "a name ending in '-': refused");
	norm("*.example.com", NULL, "a wildcard from a client: refused");
	norm("a b.example", NULL, "a space: refused");
	norm("a\r\nb", NULL, "CR LF: refused");
	norm("b\xc3\xbc" "cher.example", NULL, "8-bit bytes (a U-label): refused");
	ok(tls_sni_normalize(nul, sizeof(nul) - 1, out, sizeof(out)) == -1, "an embedded NUL: refused");
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	norm(long_label, NULL, "a 64-octet label: refused");
	long_label[63] = '\0';
	norm(long_label, long_label, "a 63-octet label: kept");
	for (i = 0; i < 255; i++)
		long_name[i] = (i % 2) ? '.' : 'a';
	long_name[255] = '\0';
	norm(long_name, NULL, "a 255-octet name: refused");
	long_name[253] = '\0';
	norm(long_name, long_name, "a 253-octet name: kept");
	ok(tls_sni_normalize("a.test", 6, out, 6) == -1, "no room for the NUL: refused, not cut");

	ok(tls_sni_lookup(&t, "a.test") == c[0], "an exact name picks its certificate");
	ok(tls_sni_lookup(&t, "b.test") == c[1], "another exact name picks its own");
	ok(tls_sni_lookup(&t, "y.w.test") == c[2], "a name under a wildcard picks the wildcard");
	ok(tls_sni_lookup(&t, "x.w.test") == c[0], "an exact name beats the wildcard");
	ok(tls_sni_lookup(&t, "w.test") == NULL, "the wildcard's parent itself is not covered");
	ok(tls_sni_lookup(&t, "z.y.w.test") == NULL, "a wildcard covers one label only");
	ok(tls_sni_lookup(&t, "c.test") == NULL, "an unknown name: none (the default certificate)");
	ok(tls_sni_lookup(&t, "test") == NULL, "a single label: none");
	ok(tls_sni_lookup(&empty, "a.test") == NULL, "an empty table: none");
	ok(tls_sni_lookup(NULL, "a.test") == NULL, "no table: none");
	return done_testing();
}
