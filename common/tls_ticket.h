/* SPDX-License-Identifier: ISC */
/*
 * tls_ticket.h - the session-ticket key file ([tls] ticket_key_file): one
 * line, the base64 of TLS_TICKET_KEY_SIZE random octets.  Written by
 * postern-ticket-key, read by the master; GnuTLS derives the keys that
 * encrypt tickets from it (and rotates them itself), so nodes that share
 * the file resume each other's TLS sessions.
 */
#ifndef POSTERN_TLS_TICKET_H
#define POSTERN_TLS_TICKET_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#define TLS_TICKET_KEY_SIZE 64  /* GnuTLS's session ticket master key */

/* Read PATH into KEY (gnutls_malloc'd).  Refuses a file that other users
 * may read or write.  Returns 0, or -1 with a message in ERR. */
int tls_ticket_read(const char *path, gnutls_datum_t *key, char *err, size_t errlen);

/* Write a new random key to PATH (mode 0600, through a temporary file and
 * rename, so a reader never sees half a key).  Returns 0 or -1 with ERR. */
int tls_ticket_write(const char *path, char *err, size_t errlen);

#endif
