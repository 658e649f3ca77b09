/* SPDX-License-Identifier: ISC */
/*
 * netaddr.c - parse listen addresses from the config and print socket
 * addresses for logs, hooks and the Received header.  Numeric only: a
 * mail server must not depend on DNS to start.
 */
#include "autoconf.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
netaddr_parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int
netaddr_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	char host[128];
	const char *colon, *portstr;
	unsigned port;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPv6]:port", spec);
			return -1;
		}
		hlen = (size_t)(close - spec - 1);
		portstr = close + 2;
		if (hlen >= sizeof(host))
			goto badhost;
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "'%s': expected address:port", spec);
			return -1;
		}
		hlen = (size_t)(colon - spec);
		portstr = colon + 1;
		if (hlen >= sizeof(host))
			goto badhost;
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
	}
	if (netaddr_parse_port(portstr, &port) < 0) {
		snprintf(err, errlen, "'%s': the port must be a number from 1 to 65535", spec);
		return -1;
	}
	if (strcmp(host, "*") == 0)
		strlcpy(host, "0.0.0.0", sizeof(host));
	if (spec[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto badhost;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto badhost;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		*sslen = sizeof(*s4);
	}
	return 0;
badhost:
	snprintf(err, errlen, "'%s': not a numeric IPv4 address or [IPv6] address", spec);
	return -1;
}

void
netaddr_format(const struct sockaddr *sa, char *host, size_t hostlen,
    unsigned *port)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, hostlen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, hostlen);
		*port = ntohs(s6->sin6_port);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, hostlen);
		*port = ntohs(s4->sin_port);
	} else {
		strlcpy(host, "unknown", hostlen);
		*port = 0;
	}
}

int
netaddr_parse_cidr(const char *spec, struct cidr *c, char *err, size_t errlen)
{
	char host[64];
	const char *slash = strchr(spec, '/');
	size_t hl = slash != NULL ? (size_t)(slash - spec) : strlen(spec);
	int max;

	memset(c, 0, sizeof(*c));
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not an address or address/bits", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "'%s' is not a numeric IPv4 or IPv6 address", host);
		return -1;
	}
	c->bits = max;
	if (slash != NULL) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max) {
			snprintf(err, errlen, "'%s': the prefix length must be 0 to %d", spec, max);
			return -1;
		}
		c->bits = (int)b;
	}
	return 0;
}

int
netaddr_in_cidr(const struct sockaddr *sa, const struct cidr *c)
{
	const unsigned char *a;
	int full, rest;

	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return 0;
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			if (c->family != AF_INET)
				return 0;
			a = &a6->s6_addr[12];
		} else {
			if (c->family != AF_INET6)
				return 0;
			a = a6->s6_addr;
		}
	} else {
		return 0;
	}
	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ c->addr[full]) & (0xff << (8 - rest))) == 0;
}

int
netaddr_in_cidrs(const struct sockaddr *sa, const struct cidr *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (netaddr_in_cidr(sa, &list[i]))
			return 1;
	return 0;
}
