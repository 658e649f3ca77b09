/* SPDX-License-Identifier: ISC */
/*
 * dns.h - the client's names by forward-confirmed reverse DNS (FCrDNS):
 * client_name and reverse_client_name as Postfix defines them, and
 * sendmail's {client_resolve} status.  See dns.c.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "../common/config.h"

#define DNS_NAME_MAX 253                /* a host name, without the final dot */

struct fcrdns {
	char client_name[DNS_NAME_MAX + 1];     /* verified name, or "unknown" */
	char reverse_client_name[DNS_NAME_MAX + 1]; /* PTR name, or "unknown" */
	const char *resolve;    /* "OK", "FAIL", "FORGED", "TEMP"; "" if not looked up */
	char note[320];         /* why it is not OK, for the log; "" if OK */
};

/* Look up the names of CLIENT (PTR, then A or AAAA of each PTR name), all
 * of it within cfg->dns_timeout, at cfg->resolver or the servers of
 * /etc/resolv.conf.  With reverse_lookup = no, or on any failure, the
 * names are "unknown".  Never fails otherwise. */
void fcrdns_lookup(const struct config *, const struct sockaddr *client, struct fcrdns *);

/* Were the names looked up (reverse_lookup = yes)? */
static inline int
fcrdns_looked_up(const struct fcrdns *d)
{
	return d->resolve[0] != '\0';
}

/* The verified name for the log and the Received header: "" when the names
 * were not looked up. */
static inline const char *
fcrdns_name(const struct fcrdns *d)
{
	return fcrdns_looked_up(d) ? d->client_name : "";
}

/* Is NAME (no final dot) usable as a host name: 1 to 253 octets, labels
 * of 1 to 63 letters, digits, '-' (not first or last) or '_', and a last
 * label that is not all digits (so no "192.0.2.1")?  Pure. */
int dns_valid_hostname(const char *name);

/* The PTR query name for an address: "4.3.2.1.in-addr.arpa" or the 32
 * nibbles of ip6.arpa.  FAMILY AF_INET (4 octets) or AF_INET6 (16).
 * Returns 0, or -1 if LEN is too small.  Pure. */
int dns_ptr_qname(int family, const unsigned char *addr, char *buf, size_t len);

#endif
