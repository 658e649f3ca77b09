/* SPDX-License-Identifier: ISC */
/*
 * tls_creds.h - the server's TLS material, loaded by the master while it is root
 * (certificate chain, private key, priority string) plus the session-ticket
 * key shared by all workers, so that a client resumes on any worker, and
 * the certificates chosen by server name (tls_sni.h).
 */
#ifndef POSTERN_TLS_CREDS_H
#define POSTERN_TLS_CREDS_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#include "tls_sni.h"

struct config;

struct tls_server {
	int loaded;
	gnutls_certificate_credentials_t cred;  /* [tls] certificate: the default */
	gnutls_priority_t priority;
	gnutls_datum_t ticket_key;      /* ticket_key_file, or made at load */
	struct tls_sni sni;             /* certificate_directory, by server name */
	int request_client_cert;        /* client_certificates = request */
};

/* Load what CFG's [tls] names, if any endpoint uses TLS or a certificate
 * is set.  OLD is what runs now (NULL at start-up): a reload keeps OLD's
 * copy of a certificate_directory entry that has become unreadable.
 * Returns 0, or -1 with a message naming the key and the reason. */
int tls_server_load(const struct config *cfg, const struct tls_server *old,
    struct tls_server *ts, char *err, size_t errlen);
void tls_server_free(struct tls_server *ts);

#endif
