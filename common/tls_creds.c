/* SPDX-License-Identifier: ISC */
/*
 * tls_creds.c - load the TLS credentials with GnuTLS: the certificate chain and
 * key (checked to match), the priority string (checked to parse), the
 * session-ticket key (ticket_key_file, or a fresh one), the certificates
 * of certificate_directory (tls_sni.c) and the CAs of client_ca.  Done in
 * the master, as root, before fork: the workers inherit the credentials in
 * memory and never open a key file.
 */
#include "autoconf.h"
#include "tls_creds.h"
#include "tls_ticket.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int
readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "[tls] %s: cannot read %s: %s", what, path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* client_certificates and client_ca: the CAs go into every credentials
 * set, since the one a session uses depends on the server name. */
static int
client_certs(const struct config *cfg, struct tls_server *ts, char *err, size_t errlen)
{
	const char *mode = cfg->tls_client_certificates;
	int i, rc;

	if (mode[0] == '\0' || strcasecmp(mode, "no") == 0)
		return 0;
	if (strcasecmp(mode, "request") != 0) {
		snprintf(err, errlen, "[tls] client_certificates: '%s' is not no or request", mode);
		return -1;
	}
	ts->request_client_cert = 1;
	if (cfg->tls_client_ca[0] == '\0')
		return 0;       /* fingerprints only, as Postfix without a CAfile */
	for (i = -1; i < ts->sni.ncreds; i++) {
		rc = gnutls_certificate_set_x509_trust_file(i < 0 ? ts->cred : ts->sni.creds[i],
		    cfg->tls_client_ca, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			snprintf(err, errlen, "[tls] client_ca: no CA certificate in %s: %s", cfg->tls_client_ca,
			    rc < 0 ? gnutls_strerror(rc) : "the file holds none");
			return -1;
		}
	}
	return 0;
}

/* ticket_key_file, or a fresh key when it is not set. */
static int
ticket_key(const struct config *cfg, struct tls_server *ts, char *err, size_t errlen)
{
	int rc;

	if (cfg->tls_ticket_key_file[0] != '\0')
		return tls_ticket_read(cfg->tls_ticket_key_file, &ts->ticket_key, err, errlen);
	if ((rc = gnutls_session_ticket_key_generate(&ts->ticket_key)) < 0) {
		snprintf(err, errlen, "[tls]: cannot make a session ticket key: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
tls_server_load(const struct config *cfg, const struct tls_server *old,
    struct tls_server *ts, char *err, size_t errlen)
{
	const char *errpos = NULL;
	int i, need = 0, rc;

	memset(ts, 0, sizeof(*ts));
	for (i = 0; i < cfg->nendpoints; i++)
		if (cfg->endpoints[i].tls != TLS_NONE)
			need = 1;
	if (!need && cfg->tls_certificate[0] == '\0')
		return 0;
	if (cfg->tls_certificate[0] == '\0') {
		snprintf(err, errlen, "[tls] certificate: not set, but an endpoint uses TLS");
		return -1;
	}
	if (cfg->tls_key[0] == '\0') {
		snprintf(err, errlen, "[tls] key: not set (the private key of %s)", cfg->tls_certificate);
		return -1;
	}
	if (readable("certificate", cfg->tls_certificate, err, errlen) < 0 ||
	    readable("key", cfg->tls_key, err, errlen) < 0)
		return -1;
	if ((rc = gnutls_certificate_allocate_credentials(&ts->cred)) < 0) {
		snprintf(err, errlen, "[tls]: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = gnutls_certificate_set_x509_key_file2(ts->cred, cfg->tls_certificate,
	    cfg->tls_key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			snprintf(err, errlen, "[tls] key: %s does not match the certificate %s",
			    cfg->tls_key, cfg->tls_certificate);
		else
			snprintf(err, errlen, "[tls] certificate/key: cannot load %s and %s: %s",
			    cfg->tls_certificate, cfg->tls_key, gnutls_strerror(rc));
		goto fail;
	}
	rc = gnutls_priority_init(&ts->priority, cfg->tls_priority, &errpos);
	if (rc < 0) {
		ts->priority = NULL;
		snprintf(err, errlen, "[tls] priority: '%s' is not a valid GnuTLS priority string (error at '%s'): %s",
		    cfg->tls_priority, errpos != NULL ? errpos : "?", gnutls_strerror(rc));
		goto fail;
	}
	if (tls_sni_load(cfg->tls_certificate_directory, old != NULL ? &old->sni : NULL,
	    &ts->sni, err, errlen) < 0 ||
	    client_certs(cfg, ts, err, errlen) < 0 ||
	    ticket_key(cfg, ts, err, errlen) < 0)
		goto fail;
	ts->loaded = 1;
	return 0;
fail:
	tls_server_free(ts);
	return -1;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts->priority != NULL)
		gnutls_priority_deinit(ts->priority);
	if (ts->cred != NULL)
		gnutls_certificate_free_credentials(ts->cred);
	if (ts->ticket_key.data != NULL) {
		gnutls_memset(ts->ticket_key.data, 0, ts->ticket_key.size);
		gnutls_free(ts->ticket_key.data);
	}
	tls_sni_free(&ts->sni);
	memset(ts, 0, sizeof(*ts));
}
