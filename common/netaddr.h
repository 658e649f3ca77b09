/* SPDX-License-Identifier: ISC */
/*
 * netaddr.h - listen addresses ("127.0.0.1:25", "[::1]:587", "*:25") and
 * printable socket addresses.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse a listen address.  Returns 0, or -1 with a reason in err. */
/* A TCP port number, 1-65535, digits only; 0 or -1. */
int netaddr_parse_port(const char *s, unsigned *port);
int netaddr_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen);

/* Numeric host and port of a socket address ("192.0.2.1", "2001:db8::1").
 * An IPv4-mapped IPv6 address is printed as IPv4. */
void netaddr_format(const struct sockaddr *sa, char *host, size_t hostlen,
    unsigned *port);

/* An address block: 192.0.2.0/24, 2001:db8::/32, or one address. */
struct cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

int netaddr_parse_cidr(const char *spec, struct cidr *c, char *err, size_t errlen);
/* Is SA (IPv4-mapped IPv6 counts as IPv4) inside C? */
int netaddr_in_cidr(const struct sockaddr *sa, const struct cidr *c);
/* Is SA inside any of the N networks in LIST? */
int netaddr_in_cidrs(const struct sockaddr *sa, const struct cidr *list, int n);

#endif
