/* SPDX-License-Identifier: ISC */
/*
 * resolver.h - the [server] resolver value: which DNS server the worker
 * asks for the client's names ("192.0.2.53", "127.0.0.1:5353",
 * "[2001:db8::53]:53", "::1").  Pure parsing, no I/O.
 */
#ifndef POSTERN_RESOLVER_H
#define POSTERN_RESOLVER_H

#include <stddef.h>

struct resolver_addr {
	int family;                     /* AF_INET or AF_INET6; 0: the system's (resolv.conf) */
	unsigned char addr[16];
	unsigned port;                  /* 53 unless given */
};

/* Parse SPEC: IPv4, IPv4:port, IPv6, [IPv6] or [IPv6]:port, numeric only.
 * Returns 0, or -1 with a reason in err. */
int resolver_parse(const char *spec, struct resolver_addr *out, char *err, size_t errlen);

#endif
