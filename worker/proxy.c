/*
 * proxy.c - parse a PROXY protocol header (haproxy.org/download/2.8/doc/
 * proxy-protocol.txt).  v1 is one text line of at most 107 octets, read a
 * byte at a time up to its CRLF; v2 is a 16-octet binary header and the
 * length it announces, read exactly.  Everything is checked: the signature,
 * the version, the command, the family, the lengths, the addresses and the
 * ports.  A header that is malformed, truncated or too slow fails.
 */
#include "autoconf.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V1_MAX   107
#define V2_MAX   4096           /* TLVs beyond this are refused */

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* Read exactly N bytes (the socket is non-blocking). */
static int
read_exact(int fd, unsigned char *buf, size_t n, const struct timespec *deadline)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		{
			struct timespec now;
			struct pollfd pfd = { fd, POLLIN, 0 };
			long ms;
			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
			if (ms <= 0 || poll(&pfd, 1, (int)ms) <= 0)
				return -2;
		}
	}
	return 0;
}

static int
set_addr(struct sockaddr_storage *ss, int family, const char *addr, const char *port)
{
	char *end;
	long p;

	if (*port == '\0' || (port[0] == '0' && port[1] != '\0') || strspn(port, "0123456789") != strlen(port))
		return -1;
	p = strtol(port, &end, 10);
	if (*end != '\0' || p < 0 || p > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
	}
	return 0;
}

static int
parse_v1(int fd, const struct timespec *deadline, struct sockaddr_storage *client,
    struct sockaddr_storage *server, char *why, size_t whylen)
{
	char line[V1_MAX + 1], *w[7], *p;
	size_t n = 1;
	int nw = 0, family, rc;
	struct sockaddr_storage c, s;

	line[0] = 'P';
	/* a byte at a time: nothing after the CRLF may be taken */
	for (;;) {
		if (n >= V1_MAX) {
			snprintf(why, whylen, "PROXY v1 line longer than %d octets", V1_MAX);
			return -1;
		}
		if ((rc = read_exact(fd, (unsigned char *)line + n, 1, deadline)) < 0) {
			snprintf(why, whylen, "PROXY v1 line %s", rc == -2 ? "too slow" : "truncated");
			return -1;
		}
		n++;
		if (line[n - 1] == '\n')
			break;
		if (line[n - 1] == '\0') {
			snprintf(why, whylen, "NUL in the PROXY v1 line");
			return -1;
		}
	}
	if (n < 2 || line[n - 2] != '\r') {
		snprintf(why, whylen, "PROXY v1 line not ended by CRLF");
		return -1;
	}
	line[n - 2] = '\0';
	/* fields separated by exactly one space: an empty field is an error */
	for (p = line; nw < 7; ) {
		w[nw++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p++ = '\0';
	}
	for (int i = 0; i < nw; i++)
		if (w[i][0] == '\0') {
			snprintf(why, whylen, "malformed PROXY v1 line (empty field)");
			return -1;
		}
	if (nw < 2 || strcmp(w[0], "PROXY") != 0) {
		snprintf(why, whylen, "not a PROXY v1 line");
		return -1;
	}
	if (strcmp(w[1], "UNKNOWN") == 0)
		return 0;
	if (nw != 6 || (strcmp(w[1], "TCP4") != 0 && strcmp(w[1], "TCP6") != 0)) {
		snprintf(why, whylen, "malformed PROXY v1 line");
		return -1;
	}
	family = strcmp(w[1], "TCP4") == 0 ? AF_INET : AF_INET6;
	if (set_addr(&c, family, w[2], w[4]) < 0 || set_addr(&s, family, w[3], w[5]) < 0) {
		snprintf(why, whylen, "bad address or port in the PROXY v1 line");
		return -1;
	}
	*client = c;
	*server = s;
	return 0;
}

static int
parse_v2(int fd, const struct timespec *deadline, struct sockaddr_storage *client,
    struct sockaddr_storage *server, char *why, size_t whylen)
{
	unsigned char hdr[16], body[V2_MAX];
	size_t len;
	int rc;

	hdr[0] = v2sig[0];
	if ((rc = read_exact(fd, hdr + 1, 15, deadline)) < 0) {
		snprintf(why, whylen, "PROXY v2 header %s", rc == -2 ? "too slow" : "truncated");
		return -1;
	}
	if (memcmp(hdr, v2sig, sizeof(v2sig)) != 0) {
		snprintf(why, whylen, "bad PROXY v2 signature");
		return -1;
	}
	if ((hdr[12] & 0xf0) != 0x20) {
		snprintf(why, whylen, "PROXY protocol version %d is not 2", hdr[12] >> 4);
		return -1;
	}
	len = ((size_t)hdr[14] << 8) | hdr[15];
	if (len > sizeof(body)) {
		snprintf(why, whylen, "PROXY v2 header of %zu octets is too long", len);
		return -1;
	}
	if ((rc = read_exact(fd, body, len, deadline)) < 0) {
		snprintf(why, whylen, "PROXY v2 addresses %s", rc == -2 ? "too slow" : "truncated");
		return -1;
	}
	switch (hdr[12] & 0x0f) {
	case 0x0:               /* LOCAL: the proxy's own connection (health check) */
		return 0;
	case 0x1:               /* PROXY */
		break;
	default:
		snprintf(why, whylen, "unknown PROXY v2 command %d", hdr[12] & 0x0f);
		return -1;
	}
	switch (hdr[13]) {
	case 0x00:              /* UNSPEC: keep the socket's addresses */
		return 0;
	case 0x11: {            /* TCP over IPv4 */
		struct sockaddr_in *c = (struct sockaddr_in *)client, *s = (struct sockaddr_in *)server;
		if (len < 12)
			goto short_addr;
		memset(client, 0, sizeof(*client));
		memset(server, 0, sizeof(*server));
		c->sin_family = s->sin_family = AF_INET;
		memcpy(&c->sin_addr, body, 4);
		memcpy(&s->sin_addr, body + 4, 4);
		memcpy(&c->sin_port, body + 8, 2);
		memcpy(&s->sin_port, body + 10, 2);
		return 0;
	}
	case 0x21: {            /* TCP over IPv6 */
		struct sockaddr_in6 *c = (struct sockaddr_in6 *)client, *s = (struct sockaddr_in6 *)server;
		if (len < 36)
			goto short_addr;
		memset(client, 0, sizeof(*client));
		memset(server, 0, sizeof(*server));
		c->sin6_family = s->sin6_family = AF_INET6;
		memcpy(&c->sin6_addr, body, 16);
		memcpy(&s->sin6_addr, body + 16, 16);
		memcpy(&c->sin6_port, body + 32, 2);
		memcpy(&s->sin6_port, body + 34, 2);
		return 0;
	}
	default:
		snprintf(why, whylen, "PROXY v2 family/protocol 0x%02x is not TCP", hdr[13]);
		return -1;
	}
short_addr:
	snprintf(why, whylen, "PROXY v2 address block too short");
	return -1;
}

int
proxy_read_header(int fd, const struct timespec *deadline,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen)
{
	unsigned char first;
	int rc;

	if ((rc = read_exact(fd, &first, 1, deadline)) < 0) {
		snprintf(why, whylen, "no PROXY header (%s)", rc == -2 ? "timeout" : "connection closed");
		return -1;
	}
	if (first == 'P')
		return parse_v1(fd, deadline, client, server, why, whylen);
	if (first == v2sig[0])
		return parse_v2(fd, deadline, client, server, why, whylen);
	snprintf(why, whylen, "expected a PROXY header from a trusted proxy, got something else");
	return -1;
}
