/* SPDX-License-Identifier: ISC */
/*
 * tls_peer.c - read the client's server name and certificate out of an
 * established GnuTLS session, and give them to hooks.  Everything here came
 * from the network: names are checked (tls_sni_normalize), certificate text
 * is cut to printable ASCII before it reaches an environment variable or a
 * policy request line.
 */
#include "autoconf.h"
#include "tls_peer.h"
#include "hook.h"

#include <stdio.h>
#include <string.h>
#include <gnutls/x509.h>

/* Bytes outside printable ASCII become '?' (as Postfix's ccert_* text). */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void
fingerprint(const gnutls_datum_t *der, char *out, size_t outlen)
{
	unsigned char md[32];
	size_t mdlen = sizeof(md), i, o = 0;

	out[0] = '\0';
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, md, &mdlen) < 0)
		return;
	for (i = 0; i < mdlen && o + 3 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, i == 0 ? "%02X" : ":%02X", md[i]);
}

static void
names(const gnutls_datum_t *der, struct tls_peer *p)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn;
	size_t len;

	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0) {
		if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
			snprintf(p->subject, sizeof(p->subject), "%.*s", (int)dn.size, dn.data);
			gnutls_free(dn.data);
		}
		if (gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) == 0) {
			snprintf(p->issuer, sizeof(p->issuer), "%.*s", (int)dn.size, dn.data);
			gnutls_free(dn.data);
		}
		len = sizeof(p->subject_cn);
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
		    p->subject_cn, &len) < 0)
			p->subject_cn[0] = '\0';
		len = sizeof(p->issuer_cn);
		if (gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
		    p->issuer_cn, &len) < 0)
			p->issuer_cn[0] = '\0';
	}
	gnutls_x509_crt_deinit(crt);
	printable(p->subject);
	printable(p->issuer);
	printable(p->subject_cn);
	printable(p->issuer_cn);
}

void
tls_peer_read(gnutls_session_t s, struct tls_peer *p)
{
	char name[TLS_SNI_NAME_MAX + 2];
	size_t len = sizeof(name);
	unsigned type, n = 0, status = 1;
	const gnutls_datum_t *certs;
	gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
	    (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0 };

	memset(p, 0, sizeof(*p));
	if (gnutls_server_name_get(s, name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS &&
	    tls_sni_normalize(name, len, p->sni, sizeof(p->sni)) < 0)
		p->sni[0] = '\0';
	if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
	    (certs = gnutls_certificate_get_peers(s, &n)) == NULL || n == 0)
		return;
	p->cert = 1;
	fingerprint(&certs[0], p->fingerprint, sizeof(p->fingerprint));
	/* chains to client_ca, in date, usable for TLS client authentication */
	if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0 || status != 0)
		return;
	p->verified = 1;
	names(&certs[0], p);
}

void
tls_peer_env(const struct tls_peer *p, struct hook_env *e)
{
	if (p->sni[0] != '\0')
		hook_env_add(e, "POSTERN_TLS_SNI", p->sni);
	if (!p->cert)
		return;
	hook_env_add(e, "POSTERN_TLS_CLIENT_VERIFIED", p->verified ? "yes" : "no");
	hook_env_add(e, "POSTERN_TLS_CLIENT_FINGERPRINT", p->fingerprint);
	if (!p->verified)
		return;
	hook_env_add(e, "POSTERN_TLS_CLIENT_SUBJECT", p->subject);
	hook_env_add(e, "POSTERN_TLS_CLIENT_ISSUER", p->issuer);
}
