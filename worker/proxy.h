/* SPDX-License-Identifier: ISC */
/*
 * proxy.h - the PROXY protocol (HAProxy, versions 1 and 2) that a load
 * balancer sends before anything else, carrying the client's address.
 */
#ifndef POSTERN_PROXY_H
#define POSTERN_PROXY_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

/*
 * Read the header from FD before DEADLINE, never a byte past it (what follows
 * may be a TLS ClientHello).  On success CLIENT and SERVER hold the addresses
 * it gave; for a v2 LOCAL command or "PROXY UNKNOWN" they are left as they
 * are (health checks).  Returns 0, or -1 with a reason in WHY.
 */
/* What proxy_parse() made of the bytes so far. */
enum proxy_status {
	PROXY_DONE = 0,         /* a whole, valid header */
	PROXY_MORE = 1,         /* read *NEED more octets (exactly: never past the header) */
	PROXY_BAD = -1,         /* not a valid header: the reason is in WHY */
};

/*
 * Parse the first LEN octets of a PROXY header at BUF.  On PROXY_DONE,
 * CLIENT and SERVER are set as for proxy_read_header(); on PROXY_MORE, *NEED
 * (at least 1) says how many more octets to read before calling again with
 * all of them.
 */
int proxy_parse(const unsigned char *buf, size_t len, size_t *need,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen);

int proxy_read_header(int fd, const struct timespec *deadline,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen);

#endif
