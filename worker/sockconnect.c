/*
 * sockconnect.c - connect to a server named inet:HOST:PORT (numeric address,
 * IPv6 in brackets or not) or unix:/path, non-blocking, bounded by a
 * deadline.  Used by the persistent hooks (policy.c) and the milter client.
 */
#include "autoconf.h"
#include "sockconnect.h"
#include "hook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
sock_connect(const char *spec, const struct timespec *deadline, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		if (strlen(spec + 5) >= sizeof(su->sun_path)) {
			snprintf(why, whylen, "socket path too long");
			return -1;
		}
		su->sun_family = AF_UNIX;
		strlcpy(su->sun_path, spec + 5, sizeof(su->sun_path));
		len = sizeof(*su);
	} else {
		char host[128];
		const char *colon = strrchr(spec + 5, ':');
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		size_t hl;
		long port;

		if (colon == NULL || (hl = (size_t)(colon - (spec + 5))) == 0 || hl >= sizeof(host)) {
			snprintf(why, whylen, "expected inet:ADDRESS:PORT");
			return -1;
		}
		memcpy(host, spec + 5, hl);
		host[hl] = '\0';
		if (host[0] == '[' && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		port = strtol(colon + 1, NULL, 10);
		if (port <= 0 || port > 65535) {
			snprintf(why, whylen, "bad port");
			return -1;
		}
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons((unsigned short)port);
			len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((unsigned short)port);
			len = sizeof(*s6);
		} else {
			snprintf(why, whylen, "'%s' is not a numeric address", host);
			return -1;
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int err = 0;
		socklen_t elen = sizeof(err);
		long ms = hook_ms_left(deadline);
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
	return fd;
}
