/* SPDX-License-Identifier: ISC */
/*
 * resolver.c - parse the [server] resolver address (resolver.h).  A
 * numeric address only: the resolver cannot itself need a name lookup.
 */
#include "autoconf.h"
#include "resolver.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int
resolver_parse(const char *spec, struct resolver_addr *out, char *err, size_t errlen)
{
	char host[64];
	const char *port = NULL, *colon;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	out->port = 53;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, errlen, "'%s': expected [IPv6] or [IPv6]:port", spec);
			return -1;
		}
		hlen = (size_t)(close - spec - 1);
		spec++;
		out->family = AF_INET6;
		if (close[1] == ':')
			port = close + 2;
	} else if ((colon = strchr(spec, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - spec);          /* IPv4:port */
		out->family = AF_INET;
		port = colon + 1;
	} else {
		hlen = strlen(spec);                    /* IPv4, or IPv6 without a port */
		out->family = colon != NULL ? AF_INET6 : AF_INET;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto badhost;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (inet_pton(out->family, host, out->addr) != 1)
		goto badhost;
	if (port != NULL && netaddr_parse_port(port, &out->port) < 0) {
		snprintf(err, errlen, "'%s': the port must be a number from 1 to 65535", port);
		return -1;
	}
	return 0;
badhost:
	snprintf(err, errlen, "'%.*s' is not a numeric IPv4 or IPv6 address "
	    "(write IP, IP:port or [IPv6]:port; leave resolver unset for /etc/resolv.conf)",
	    (int)(hlen < 80 ? hlen : 80), spec);
	out->family = 0;
	return -1;
}
