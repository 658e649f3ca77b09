/* SPDX-License-Identifier: ISC */
/*
 * tls_peer.h - what a finished TLS handshake says about the client: the
 * server name it asked for (SNI) and its certificate, if it sent one.
 * Kept in the session for hooks, policy servers and milters.
 */
#ifndef POSTERN_TLS_PEER_H
#define POSTERN_TLS_PEER_H

#include <gnutls/gnutls.h>

#include "../common/tls_sni.h"

struct hook_env;

struct tls_peer {
	char sni[TLS_SNI_NAME_MAX + 1]; /* "" when the client sent none */
	int cert;                       /* the client sent a certificate */
	int verified;                   /* ... that chains to [tls] client_ca */
	char fingerprint[96];           /* SHA-256 of it, "AB:CD:...", Postfix's form */
	/* verified certificates only (as Postfix): RFC 4514 DNs, and the
	 * CNs that Postfix sends as ccert_subject/ccert_issuer and to milters
	 * as {cert_subject}/{cert_issuer}; bytes outside printable ASCII
	 * become '?' */
	char subject[512];
	char issuer[512];
	char subject_cn[256];
	char issuer_cn[256];
};

/* Fill P from the established session S (a certificate is verified
 * against the CAs of the credentials the session used). */
void tls_peer_read(gnutls_session_t s, struct tls_peer *p);

/* POSTERN_TLS_SNI and POSTERN_TLS_CLIENT_* for what P holds. */
void tls_peer_env(const struct tls_peer *p, struct hook_env *e);

#endif
