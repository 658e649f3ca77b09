/* SPDX-License-Identifier: ISC */
/*
 * dns.c - the client's names by forward-confirmed reverse DNS (FCrDNS),
 * once per session before the greeting.
 *
 * As Postfix: reverse_client_name is the name of the client's PTR record,
 * client_name is that name only if it resolves back (A for an IPv4 client,
 * AAAA for IPv6) to the client's address; each is "unknown" otherwise.
 * When the PTR lookup returns several names, each (the first 4) is
 * checked; the first that resolves back is both names, and if none does
 * reverse_client_name is the first.  The status is sendmail's
 * {client_resolve}: OK, FAIL (no PTR, or no usable name in it), FORGED
 * (no name resolves back to the address) or TEMP (a lookup timed out or
 * the server failed): Postfix's reject_unknown_client_hostname answers
 * 450 for TEMP and 550 otherwise, and a hook can do the same.
 *
 * c-ares, not getnameinfo(3): the whole PTR-plus-forward lookup must be
 * bounded by dns_timeout even when the server never answers, and a
 * blocking getnameinfo can neither be bounded nor be pointed at a DNS
 * server on a port of our choosing ([server] resolver).  The names from
 * the DNS are hostile data: a name that is not a valid host name is not
 * used.  /etc/hosts is not read: a name comes from the DNS or not at all.
 */
#include "autoconf.h"
#include "dns.h"
#include "address.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PTR_NAMES_MAX 4         /* PTR names checked; a hostile zone may list 100s */
#define ADDRS_MAX     32        /* addresses read from one forward answer */

static ares_channel the_channel;        /* one per worker, see channel() */

struct lookup;
struct forward {
	struct lookup *l;
	char name[DNS_NAME_MAX + 1];
	int status;             /* ares status; -1 while pending */
	int match;              /* the name resolves to the client's address */
};

struct lookup {
	ares_channel ch;
	int family;             /* of the client: AF_INET or AF_INET6 */
	unsigned char addr[16];
	int pending;            /* queries not yet called back */
	int ptr_status;         /* -1 while pending */
	int ptr_names;          /* names in the PTR answer, usable or not */
	char bad_name[64];      /* the first unusable one, for the log */
	struct forward fwd[PTR_NAMES_MAX];
	int nfwd;
};

int
dns_valid_hostname(const char *name)
{
	return dotted_name_valid(name, strlen(name), DNS_NAME_MAX, NAME_UNDERSCORE | NAME_NOT_NUMERIC);
}

int
dns_ptr_qname(int family, const unsigned char *addr, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int i;

	if (family == AF_INET) {
		int w = snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa",
		    addr[3], addr[2], addr[1], addr[0]);
		return w < 0 || (size_t)w >= len ? -1 : 0;
	}
	if (len < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	for (i = 15; i >= 0; i--) {
		buf[n++] = hex[addr[i] & 0xf];
		buf[n++] = '.';
		buf[n++] = hex[addr[i] >> 4];
		buf[n++] = '.';
	}
	memcpy(buf + n, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

/* A failure that may go away: the answer is TEMP, not FAIL or FORGED. */
static int
temporary(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	    status != ARES_EBADRESP && status != ARES_EBADNAME && status != ARES_EFORMERR;
}

static void
forward_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct forward *f = arg;
	int i, n = ADDRS_MAX;

	(void)timeouts;
	f->l->pending--;
	f->status = status;
	if (status != ARES_SUCCESS)
		return;
	if (f->l->family == AF_INET) {
		struct ares_addrttl a[ADDRS_MAX];
		f->status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
		for (i = 0; f->status == ARES_SUCCESS && i < n; i++)
			if (memcmp(&a[i].ipaddr, f->l->addr, 4) == 0)
				f->match = 1;
	} else {
		struct ares_addr6ttl a[ADDRS_MAX];
		f->status = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
		for (i = 0; f->status == ARES_SUCCESS && i < n; i++)
			if (memcmp(&a[i].ip6addr, f->l->addr, 16) == 0)
				f->match = 1;
	}
}

/* One name from the PTR answer: checked, and its forward query sent. */
static void
ptr_name(struct lookup *l, const char *name)
{
	struct forward *f;
	size_t len = strlen(name);
	int i;

	l->ptr_names++;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (l->nfwd == PTR_NAMES_MAX)
		return;
	f = &l->fwd[l->nfwd];
	memcpy(f->name, name, len > DNS_NAME_MAX ? DNS_NAME_MAX : len);
	f->name[len > DNS_NAME_MAX ? DNS_NAME_MAX : len] = '\0';
	if (len > DNS_NAME_MAX || !dns_valid_hostname(f->name)) {
		if (l->bad_name[0] == '\0')    /* for the log: the start of it, made printable */
			log_sanitize(l->bad_name, sizeof(l->bad_name), name, len);
		return;
	}
	for (i = 0; i < l->nfwd; i++)
		if (strcasecmp(l->fwd[i].name, f->name) == 0)
			return;
	f->l = l;
	f->status = -1;
	f->match = 0;
	l->nfwd++;
	l->pending++;
	ares_query(l->ch, f->name, 1 /* IN */, l->family == AF_INET ? 1 /* A */ : 28 /* AAAA */,
	    forward_done, f);
}

static void
ptr_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct hostent *h = NULL;
	int i;

	(void)timeouts;
	l->pending--;
	l->ptr_status = status;
	if (status != ARES_SUCCESS)
		return;
	l->ptr_status = ares_parse_ptr_reply(abuf, alen, l->addr, l->family == AF_INET ? 4 : 16,
	    l->family, &h);
	if (l->ptr_status != ARES_SUCCESS || h == NULL)
		return;
	/* c-ares lists every PTR name in h_aliases, in the answer's order, and
	 * the last one again in h_name (a CNAME, as in RFC 2317 delegation,
	 * is followed, not listed) */
	for (i = 0; h->h_aliases != NULL && h->h_aliases[i] != NULL; i++)
		ptr_name(l, h->h_aliases[i]);
	if (h->h_name != NULL)
		ptr_name(l, h->h_name);         /* a duplicate unless aliases were empty */
	ares_free_hostent(h);
}

/* Drive the queries until all are answered or the deadline passes; then
 * cancel what is left (its callbacks see ARES_ECANCELLED: TEMP). */
static void
run_queries(struct lookup *l, const struct timespec *deadline)
{
	while (l->pending > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval max, tv, *tvp;
		long long left = deadline_ms_left(deadline);
		unsigned bits;
		int i, n = 0, rc;

		if (left <= 0)
			break;
		/* ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit: not used */
		bits = (unsigned)ares_getsock(l->ch, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			int rd = (bits & (1u << i)) != 0;
			int wr = (bits & (1u << (i + ARES_GETSOCK_MAXNUM))) != 0;
			if (!rd && !wr)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
			pfd[n++].revents = 0;
		}
		max.tv_sec = (time_t)(left / 1000);
		max.tv_usec = (suseconds_t)(left % 1000) * 1000;
		tvp = ares_timeout(l->ch, &max, &tv);
		rc = poll(pfd, (nfds_t)n, (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000));
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0) {
			ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  /* time-outs */
			continue;
		}
		for (i = 0; i < n; i++)
			ares_process_fd(l->ch,
			    pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
			    pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
	}
	for (int i = 0; l->pending > 0 && i < 3; i++)
		ares_cancel(l->ch);     /* calls back every query, at once */
	if (l->pending > 0) {
		/* never leave a query that points into this stack frame */
		ares_destroy(l->ch);
		the_channel = NULL;
	}
}

/* One channel per worker, made at its first session: c-ares reads
 * /etc/resolv.conf (servers only: no search list, no /etc/hosts). */
static ares_channel
channel(const struct config *cfg)
{
	static int library_ready, failed;
	struct ares_options o;
	int rc, ms;

	if (the_channel != NULL || failed)
		return the_channel;
	if (!library_ready && (rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		goto fail;
	library_ready = 1;
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	/* c-ares doubles the time-out on each try: 3 s of 5 for two tries
	 * of one server (1 + 2), the rest for the forward lookup */
	ms = cfg->dns_timeout * 1000 / 5;
	o.timeout = ms < 200 ? 200 : ms;
	o.tries = 2;
	o.lookups = (char *)"b";
	rc = ares_init_options(&the_channel, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_LOOKUPS);
	if (rc != ARES_SUCCESS)
		goto fail;
	if (cfg->resolver[0] != '\0') {
		struct ares_addr_port_node srv;
		memset(&srv, 0, sizeof(srv));
		srv.family = cfg->resolver_addr.family;
		memcpy(&srv.addr, cfg->resolver_addr.addr, srv.family == AF_INET ? 4 : 16);
		srv.udp_port = srv.tcp_port = (int)cfg->resolver_addr.port;
		if ((rc = ares_set_servers_ports(the_channel, &srv)) != ARES_SUCCESS) {
			ares_destroy(the_channel);
			the_channel = NULL;
			goto fail;
		}
	}
	return the_channel;
fail:
	failed = 1;
	the_channel = NULL;
	log_err("DNS resolver: %s: client names will be 'unknown' (check [server] resolver and /etc/resolv.conf)",
	    ares_strerror(rc));
	return NULL;
}

/* The outcome of the queries, in the terms of dns.h. */
static void
conclude(const struct lookup *l, struct fcrdns *r)
{
	int i, temp = 0;

	if (l->ptr_status != ARES_SUCCESS) {
		r->resolve = temporary(l->ptr_status) ? "TEMP" : "FAIL";
		snprintf(r->note, sizeof(r->note), "PTR lookup: %s",
		    l->ptr_status == ARES_ECANCELLED ? "no answer within dns_timeout" :
		    ares_strerror(l->ptr_status));
		return;
	}
	if (l->nfwd == 0) {
		r->resolve = "FAIL";
		snprintf(r->note, sizeof(r->note), "PTR name '%s' is not a valid host name",
		    l->bad_name[0] != '\0' ? l->bad_name : "");
		return;
	}
	for (i = 0; i < l->nfwd; i++) {
		if (l->fwd[i].match) {
			strlcpy(r->client_name, l->fwd[i].name, sizeof(r->client_name));
			strlcpy(r->reverse_client_name, l->fwd[i].name, sizeof(r->reverse_client_name));
			r->resolve = "OK";
			return;
		}
		if (temporary(l->fwd[i].status))
			temp = i + 1;
	}
	strlcpy(r->reverse_client_name, l->fwd[0].name, sizeof(r->reverse_client_name));
	if (temp) {
		r->resolve = "TEMP";
		snprintf(r->note, sizeof(r->note), "forward lookup of %s: %s", l->fwd[temp - 1].name,
		    l->fwd[temp - 1].status == ARES_ECANCELLED ? "no answer within dns_timeout" :
		    ares_strerror(l->fwd[temp - 1].status));
	} else {
		r->resolve = "FORGED";
		snprintf(r->note, sizeof(r->note), "hostname %s does not resolve to the address",
		    l->fwd[0].name);
	}
}

void
fcrdns_lookup(const struct config *cfg, const struct sockaddr *client, struct fcrdns *r)
{
	struct lookup l;
	struct timespec deadline;
	char qname[80];

	strlcpy(r->client_name, "unknown", sizeof(r->client_name));
	strlcpy(r->reverse_client_name, "unknown", sizeof(r->reverse_client_name));
	r->resolve = "";
	r->note[0] = '\0';
	if (!cfg->reverse_lookup)
		return;
	memset(&l, 0, sizeof(l));
	if (client->sa_family == AF_INET) {
		l.family = AF_INET;
		memcpy(l.addr, &((const struct sockaddr_in *)client)->sin_addr, 4);
	} else if (client->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)client)->sin6_addr;
		l.family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		memcpy(l.addr, l.family == AF_INET ? a6->s6_addr + 12 : a6->s6_addr,
		    l.family == AF_INET ? 4 : 16);
	} else {
		return;
	}
	r->resolve = "TEMP";
	if ((l.ch = channel(cfg)) == NULL) {
		strlcpy(r->note, "no DNS resolver", sizeof(r->note));
		return;
	}
	deadline = deadline_in(cfg->dns_timeout);
	dns_ptr_qname(l.family, l.addr, qname, sizeof(qname));
	l.ptr_status = -1;
	l.pending = 1;
	ares_query(l.ch, qname, 1 /* IN */, 12 /* PTR */, ptr_done, &l);
	run_queries(&l, &deadline);
	conclude(&l, r);
}
