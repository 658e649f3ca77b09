/*
 * tls_creds.c - load the TLS credentials with GnuTLS: the certificate chain and
 * key (checked to match), the priority string (checked to parse), and a
 * fresh session-ticket key.  Done in the master, as root, before fork: the
 * workers inherit the credentials in memory and never open the key file.
 */
#include "autoconf.h"
#include "tls_creds.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

int
tls_server_load(const struct config *cfg, struct tls_server *ts, char *err, size_t errlen)
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
	if ((rc = gnutls_session_ticket_key_generate(&ts->ticket_key)) < 0) {
		snprintf(err, errlen, "[tls]: cannot make a session ticket key: %s", gnutls_strerror(rc));
		goto fail;
	}
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
	memset(ts, 0, sizeof(*ts));
}
