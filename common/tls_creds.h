/*
 * tls_creds.h - the server's TLS material, loaded by the master while it is root
 * (certificate chain, private key, priority string) plus the session-ticket
 * key shared by all workers, so that a client resumes on any worker.
 */
#ifndef POSTERN_TLS_CREDS_H
#define POSTERN_TLS_CREDS_H

#include <stddef.h>
#include <gnutls/gnutls.h>

struct config;

struct tls_server {
	int loaded;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t priority;
	gnutls_datum_t ticket_key;
};

/* Load what CFG's [tls] names, if any endpoint uses TLS or a certificate
 * is set.  Returns 0, or -1 with a message naming the key and the reason. */
int tls_server_load(const struct config *cfg, struct tls_server *ts,
    char *err, size_t errlen);
void tls_server_free(struct tls_server *ts);

#endif
