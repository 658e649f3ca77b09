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
int proxy_read_header(int fd, const struct timespec *deadline,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen);

#endif
