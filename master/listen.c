/* SPDX-License-Identifier: ISC */
/*
 * listen.c - create, bind and listen on each endpoint address: IPv6 sockets
 * are IPv6-only (so 0.0.0.0:25 and [::]:25 can both be listed), all are
 * non-blocking (several workers accept from them) and close-on-exec.  On a
 * reload the sockets of addresses that stay are taken over, not bound again
 * (a second bind would fail: the running workers hold them).
 */
#include "autoconf.h"
#include "listen.h"
#include "../common/config.h"
#include "../common/listener.h"
#include "../common/netaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

static int
bind_one(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (netaddr_parse_listen(spec, &ss, &len, err, errlen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", spec, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s%s", spec, strerror(errno),
		    errno == EACCES ? " (ports below 1024 need root)" :
		    errno == EADDRINUSE ? " (another server uses it)" : "");
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "%s: listen: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
listen_one(const char *spec, int endpoint, struct listener *out, char *err, size_t errlen)
{
	int fd;

	if ((fd = bind_one(spec, err, errlen)) < 0)
		return -1;
	out->fd = fd;
	out->endpoint = endpoint;
	strlcpy(out->addr, spec, sizeof(out->addr));
	return 0;
}

/* Take over OLD's socket for SPEC into *OUT (OLD's fd becomes -1);
 * returns 0, or -1 when OLD has none. */
static int
take_over(struct listener *old, int nold, const char *spec, struct listener *out)
{
	int k;

	for (k = 0; k < nold; k++)
		if (old[k].fd >= 0 && strcmp(old[k].addr, spec) == 0) {
			out->fd = old[k].fd;
			old[k].fd = -1;
			return 0;
		}
	return -1;
}

/* A failed listen_all: give the sockets taken from OLD back, close the
 * new ones. */
static void
unwind(struct listener *old, int nold, struct listener *out, int n)
{
	int i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < nold; k++)
			if (old[k].fd < 0 && strcmp(old[k].addr, out[i].addr) == 0) {
				old[k].fd = out[i].fd;
				out[i].fd = -1;
				break;
			}
		if (out[i].fd >= 0)
			close(out[i].fd);
		out[i].fd = -1;
	}
}

int
listen_all(const struct config *cfg, struct listener *old, int nold,
    struct listener *out, int max, char *err, size_t errlen)
{
	int n = 0, e, i;

	/* Counted before anything is bound: nothing to give back. */
	for (e = 0; e < cfg->nendpoints; e++)
		n += cfg->endpoints[e].nlisten;
	if (n > max) {
		snprintf(err, errlen, "too many listen addresses (at most %d)", max);
		return -1;
	}
	for (n = e = 0; e < cfg->nendpoints; e++) {
		const struct endpoint *ep = &cfg->endpoints[e];
		for (i = 0; i < ep->nlisten; i++) {
			const char *spec = ep->listen[i];
			if (take_over(old, nold, spec, &out[n]) == 0) {
				out[n].endpoint = e;
				strlcpy(out[n].addr, spec, sizeof(out[n].addr));
			} else if (listen_one(spec, e, &out[n], err, errlen) < 0) {
				unwind(old, nold, out, n);
				return -1;
			}
			n++;
		}
	}
	return n;
}

void
listen_close(struct listener *l, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (l[i].fd >= 0)
			close(l[i].fd);
		l[i].fd = -1;
	}
}
