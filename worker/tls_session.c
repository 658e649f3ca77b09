/* SPDX-License-Identifier: ISC */
/*
 * tls_session.c - the server side of a TLS handshake on a non-blocking socket,
 * bounded by a deadline.  Every TLS detail is GnuTLS's: the priority string
 * and credentials come from the master; session tickets use the key the
 * master made (or read from ticket_key_file), so resumption works across
 * workers and nodes.  The certificate is chosen by the client's server name
 * once its hello is in; client certificates are requested, never required,
 * when client_certificates = request.  Renegotiation is refused (netio
 * treats GNUTLS_E_REHANDSHAKE as an error).
 */
#include "autoconf.h"
#include "tls_session.h"
#include "tls_peer.h"
#include "netio.h"
#include "../common/deadline.h"
#include "../common/metrics.h"
#include "../common/tls_creds.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <gnutls/gnutls.h>

static int
wait_for(int fd, int write, const struct timespec *deadline)
{
	long ms;
	struct pollfd pfd = { fd, write ? POLLOUT : POLLIN, 0 };
	int n;

	for (;;) {
		ms = deadline_ms_left(deadline);
		if (ms <= 0)
			return -1;
		n = poll(&pfd, 1, (int)ms);
		if (n > 0)
			return 0;
		if (n == 0)
			return -1;
		if (errno != EINTR)
			return -1;
	}
}

/* After the client's hello: the certificate for the name it asked for. */
static int
choose_certificate(gnutls_session_t s)
{
	const struct tls_server *ts = gnutls_session_get_ptr(s);
	gnutls_certificate_credentials_t cred;
	char raw[TLS_SNI_NAME_MAX + 2], name[TLS_SNI_NAME_MAX + 1];
	size_t len = sizeof(raw);
	unsigned type;

	if (ts->sni.nnames == 0 ||
	    gnutls_server_name_get(s, raw, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS ||
	    tls_sni_normalize(raw, len, name, sizeof(name)) < 0 ||
	    (cred = tls_sni_lookup(&ts->sni, name)) == NULL)
		return 0;       /* [tls] certificate */
	return gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
}

static void
count_failed(void)
{
	if (metrics_shared != NULL)
		metrics_add(metrics_shared, &metrics_shared->tls[TLS_FAILED], 1);
}

/*
 * The client closed before a whole handshake message came (a port probe:
 * a load balancer's TCP check, a monitoring connect): no handshake was
 * tried, so none failed.  A client that sent garbage gets another error.
 */
static int
closed_before_hello(gnutls_session_t s, int rc)
{
	return rc == GNUTLS_E_PREMATURE_TERMINATION &&
	    (int)gnutls_handshake_get_last_in(s) == -1;
}

int
tls_accept(struct netio *io, const struct tls_server *ts,
    const struct timespec *deadline, char *info, size_t infolen,
    struct tls_peer *peer, char *why, size_t whylen)
{
	gnutls_session_t s;
	int rc;

	if (ts == NULL || !ts->loaded) {
		snprintf(why, whylen, "no TLS credentials");
		return -1;
	}
	if ((rc = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		snprintf(why, whylen, "gnutls_init: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_priority_set(s, ts->priority)) < 0 ||
	    (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, ts->cred)) < 0 ||
	    (rc = gnutls_session_ticket_enable_server(s, &ts->ticket_key)) < 0) {
		snprintf(why, whylen, "TLS setup: %s", gnutls_strerror(rc));
		gnutls_deinit(s);
		return -1;
	}
	gnutls_session_set_ptr(s, (void *)ts);
	gnutls_handshake_set_post_client_hello_function(s, choose_certificate);
	gnutls_certificate_server_set_request(s, ts->request_client_cert ?
	    GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE);
	gnutls_handshake_set_timeout(s, 0);
	gnutls_transport_set_int(s, io->fd);
	for (;;) {
		rc = gnutls_handshake(s);
		if (rc == GNUTLS_E_SUCCESS)
			break;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (wait_for(io->fd, gnutls_record_get_direction(s), deadline) < 0) {
				snprintf(why, whylen, "TLS handshake timed out");
				count_failed();
				gnutls_deinit(s);
				return -1;
			}
			continue;
		}
		if (!gnutls_error_is_fatal(rc))
			continue;       /* e.g. a warning alert */
		if (closed_before_hello(s, rc)) {
			snprintf(why, whylen, "the client closed the connection before the TLS handshake");
			gnutls_deinit(s);
			return -1;
		}
		snprintf(why, whylen, "TLS handshake failed: %s", gnutls_strerror(rc));
		count_failed();
		/* tell the client why (RFC 8446 6.2), best effort: never waits */
		gnutls_alert_send_appropriate(s, rc);
		gnutls_deinit(s);
		return -1;
	}
	netio_set_tls(io, s);
	if (metrics_shared != NULL)
		metrics_add(metrics_shared, &metrics_shared->tls[gnutls_session_is_resumed(s) ?
		    TLS_RESUMED : TLS_FULL], 1);
	tls_peer_read(s, peer);
	/* The client's Finished is ACKed now, not 40 ms later: a client that
	 * writes its next command at once (Nagle) would wait for that ACK. */
	setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
	snprintf(info, infolen, "%s %s",
	    gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
	    gnutls_ciphersuite_get(s) != NULL ? gnutls_ciphersuite_get(s) : "unknown");
	return 0;
}

void
tls_close(struct netio *io)
{
	gnutls_session_t s = netio_tls(io);
	struct timespec deadline;

	if (s == NULL)
		return;
	deadline = deadline_in(2);
	for (;;) {
		int rc = gnutls_bye(s, GNUTLS_SHUT_WR);
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
			break;
		if (wait_for(io->fd, 1, &deadline) < 0)
			break;
	}
	gnutls_deinit(s);
	netio_set_tls(io, NULL);
}
