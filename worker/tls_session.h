/* SPDX-License-Identifier: ISC */
/*
 * tls_session.h - TLS on a client connection (RFC 3207 STARTTLS, RFC 8314 implicit
 * TLS), through GnuTLS.
 */
#ifndef POSTERN_TLS_SESSION_H
#define POSTERN_TLS_SESSION_H

#include <stddef.h>
#include <time.h>

struct netio;
struct tls_server;
struct tls_peer;

/*
 * Run a server handshake on IO's socket before DEADLINE.  On success IO
 * reads and writes through TLS from now on, and INFO gets
 * "TLSv1.3 TLS_AES_256_GCM_SHA384" (protocol and cipher suite) and PEER the
 * server name and client certificate (tls_peer.h).  Returns 0, or -1 with a
 * reason in WHY (the session is then unusable).
 */
int tls_accept(struct netio *io, const struct tls_server *ts,
    const struct timespec *deadline, char *info, size_t infolen,
    struct tls_peer *peer, char *why, size_t whylen);

/* Send close_notify (best effort, bounded) and free the TLS session. */
void tls_close(struct netio *io);

#endif
