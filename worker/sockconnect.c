/* SPDX-License-Identifier: ISC */
/*
 * sockconnect.c - connect to a server named inet:HOST:PORT (numeric address,
 * IPv6 in brackets or not) or unix:/path, non-blocking, bounded by a
 * deadline.  Used by the persistent hooks (policy.c, whose address the
 * configuration parsed) and the milter client.
 */
#include "autoconf.h"
#include "sockconnect.h"
#include "../common/netaddr.h"
#include "../common/deadline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* SPEC into SS: inet: as a listen address ("127.0.0.1:10023",
 * "[::1]:10023"), unix: an absolute path. */
static int
parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *why, size_t whylen)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "inet:", 5) == 0)
		return netaddr_parse_listen(spec + 5, ss, len, why, whylen);
	if (strncmp(spec, "unix:", 5) == 0 && spec[5] == '/') {
		struct sockaddr_un *su = (struct sockaddr_un *)ss;
		if (strlen(spec + 5) >= sizeof(su->sun_path)) {
			snprintf(why, whylen, "socket path too long");
			return -1;
		}
		su->sun_family = AF_UNIX;
		strlcpy(su->sun_path, spec + 5, sizeof(su->sun_path));
		*len = sizeof(*su);
		return 0;
	}
	snprintf(why, whylen, "expected inet:ADDRESS:PORT or unix:/path");
	return -1;
}

int
sock_connect(const char *spec, const struct timespec *deadline, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	if (parse(spec, &ss, &len, why, whylen) < 0)
		return -1;
	return sock_connect_addr((const struct sockaddr *)&ss, len, deadline, why, whylen);
}

int
sock_connect_addr(const struct sockaddr *sa, socklen_t len, const struct timespec *deadline,
    char *why, size_t whylen)
{
	int fd, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, sa, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int err = 0;
		socklen_t elen = sizeof(err);
		long ms = deadline_ms_left(deadline);
		if (ms <= 0 || poll(&pfd, 1, (int)ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			snprintf(why, whylen, "cannot connect: %s", err ? strerror(err) : "timed out");
			close(fd);
			return -1;
		}
	} else if (rc < 0) {
		snprintf(why, whylen, "cannot connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	/*
	 * Milters and policy servers get whole requests, one write each (a
	 * message in 64 KiB pieces): with Nagle on, a short write after one
	 * not answered yet waits for the peer's delayed ACK, 40 ms (milter
	 * events with the SMFIP_NR_* flags, the tail of a long message).
	 * On a unix: socket this fails, harmlessly.
	 */
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return fd;
}
