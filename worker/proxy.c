/* SPDX-License-Identifier: ISC */
/*
 * proxy.c - the PROXY protocol header (haproxy.org/download/2.8/doc/
 * proxy-protocol.txt), in two parts as Postfix's haproxy_srvr: a pure parser
 * (proxy_parse) that says what the bytes so far mean and how many more it
 * needs, and the socket reader (proxy_read_header) that reads exactly that
 * many.  v1 is one text line of at most 107 octets, read a byte at a time up
 * to its CRLF; v2 is a 16-octet binary header and the length it announces.
 * Everything is checked: the signature, the version, the command, the
 * family, the lengths, the addresses and the ports.  A header that is
 * malformed, truncated or too slow fails.
 */
#include "autoconf.h"
#include "proxy.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V1_MAX   107
#define V2_HEADER 16           /* signature, version/command, family, length */
#define V2_MAX   4096           /* TLVs beyond this are refused */

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

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
fail(char *why, size_t whylen, const char *text)
{
	snprintf(why, whylen, "%s", text);
	return PROXY_BAD;
}

/* A whole v1 line of N octets with its CRLF, at LINE (modified). */
static int
parse_v1_line(char *line, size_t n, struct sockaddr_storage *client,
    struct sockaddr_storage *server, char *why, size_t whylen)
{
	char *w[7], *p;
	int nw = 0, family;
	struct sockaddr_storage c, s;

	if (n < 2 || line[n - 2] != '\r')
		return fail(why, whylen, "PROXY v1 line not ended by CRLF");
	line[n - 2] = '\0';
	/* fields separated by exactly one space: an empty field is an error */
	for (p = line; nw < 7; ) {
		w[nw++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p++ = '\0';
	}
	for (int i = 0; i < nw; i++)
		if (w[i][0] == '\0')
			return fail(why, whylen, "malformed PROXY v1 line (empty field)");
	if (nw < 2 || strcmp(w[0], "PROXY") != 0)
		return fail(why, whylen, "not a PROXY v1 line");
	if (strcmp(w[1], "UNKNOWN") == 0)
		return PROXY_DONE;
	if (nw != 6 || (strcmp(w[1], "TCP4") != 0 && strcmp(w[1], "TCP6") != 0))
		return fail(why, whylen, "malformed PROXY v1 line");
	family = strcmp(w[1], "TCP4") == 0 ? AF_INET : AF_INET6;
	if (set_addr(&c, family, w[2], w[4]) < 0 || set_addr(&s, family, w[3], w[5]) < 0)
		return fail(why, whylen, "bad address or port in the PROXY v1 line");
	*client = c;
	*server = s;
	return PROXY_DONE;
}

static int
parse_v1(const unsigned char *buf, size_t len, size_t *need, struct sockaddr_storage *client,
    struct sockaddr_storage *server, char *why, size_t whylen)
{
	char line[V1_MAX + 1];
	const unsigned char *lf = memchr(buf, '\n', len);

	if (memchr(buf, '\0', lf != NULL ? (size_t)(lf - buf) : len) != NULL)
		return fail(why, whylen, "NUL in the PROXY v1 line");
	if (lf == NULL) {
		if (len >= V1_MAX) {
			snprintf(why, whylen, "PROXY v1 line longer than %d octets", V1_MAX);
			return PROXY_BAD;
		}
		*need = 1;      /* a byte at a time: nothing after the CRLF may be taken */
		return PROXY_MORE;
	}
	memcpy(line, buf, (size_t)(lf - buf) + 1);
	return parse_v1_line(line, (size_t)(lf - buf) + 1, client, server, why, whylen);
}

/* The address block of a v2 PROXY command (HDR[13] the family). */
static int
parse_v2_addresses(const unsigned char *hdr, const unsigned char *body, size_t len,
    struct sockaddr_storage *client, struct sockaddr_storage *server, char *why, size_t whylen)
{
	switch (hdr[13]) {
	case 0x00:              /* UNSPEC: keep the socket's addresses */
		return PROXY_DONE;
	case 0x11: {            /* TCP over IPv4 */
		struct sockaddr_in *c = (struct sockaddr_in *)client, *s = (struct sockaddr_in *)server;
		if (len < 12)
			break;
		memset(client, 0, sizeof(*client));
		memset(server, 0, sizeof(*server));
		c->sin_family = s->sin_family = AF_INET;
		memcpy(&c->sin_addr, body, 4);
		memcpy(&s->sin_addr, body + 4, 4);
		memcpy(&c->sin_port, body + 8, 2);
		memcpy(&s->sin_port, body + 10, 2);
		return PROXY_DONE;
	}
	case 0x21: {            /* TCP over IPv6 */
		struct sockaddr_in6 *c = (struct sockaddr_in6 *)client, *s = (struct sockaddr_in6 *)server;
		if (len < 36)
			break;
		memset(client, 0, sizeof(*client));
		memset(server, 0, sizeof(*server));
		c->sin6_family = s->sin6_family = AF_INET6;
		memcpy(&c->sin6_addr, body, 16);
		memcpy(&s->sin6_addr, body + 16, 16);
		memcpy(&c->sin6_port, body + 32, 2);
		memcpy(&s->sin6_port, body + 34, 2);
		return PROXY_DONE;
	}
	default:
		snprintf(why, whylen, "PROXY v2 family/protocol 0x%02x is not TCP", hdr[13]);
		return PROXY_BAD;
	}
	return fail(why, whylen, "PROXY v2 address block too short");
}

static int
parse_v2(const unsigned char *hdr, size_t n, size_t *need, struct sockaddr_storage *client,
    struct sockaddr_storage *server, char *why, size_t whylen)
{
	size_t len;

	if (n < V2_HEADER) {
		*need = V2_HEADER - n;
		return PROXY_MORE;
	}
	if (memcmp(hdr, v2sig, sizeof(v2sig)) != 0)
		return fail(why, whylen, "bad PROXY v2 signature");
	if ((hdr[12] & 0xf0) != 0x20) {
		snprintf(why, whylen, "PROXY protocol version %d is not 2", hdr[12] >> 4);
		return PROXY_BAD;
	}
	len = ((size_t)hdr[14] << 8) | hdr[15];
	if (len > V2_MAX) {
		snprintf(why, whylen, "PROXY v2 header of %zu octets is too long", len);
		return PROXY_BAD;
	}
	if (n < V2_HEADER + len) {
		*need = V2_HEADER + len - n;
		return PROXY_MORE;
	}
	switch (hdr[12] & 0x0f) {
	case 0x0:               /* LOCAL: the proxy's own connection (health check) */
		return PROXY_DONE;
	case 0x1:               /* PROXY */
		return parse_v2_addresses(hdr, hdr + V2_HEADER, len, client, server, why, whylen);
	default:
		snprintf(why, whylen, "unknown PROXY v2 command %d", hdr[12] & 0x0f);
		return PROXY_BAD;
	}
}

int
proxy_parse(const unsigned char *buf, size_t len, size_t *need,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen)
{
	if (len == 0) {
		*need = 1;
		return PROXY_MORE;
	}
	if (buf[0] == 'P')
		return parse_v1(buf, len, need, client, server, why, whylen);
	if (buf[0] == v2sig[0])
		return parse_v2(buf, len, need, client, server, why, whylen);
	return fail(why, whylen, "expected a PROXY header from a trusted proxy, got something else");
}

/* Read exactly N bytes (the socket is non-blocking): 0, or a READ_* error. */
enum { READ_CLOSED = -1, READ_TIMEOUT = -2 };
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
			return READ_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return READ_CLOSED;
		{
			struct pollfd pfd = { fd, POLLIN, 0 };
			long ms = deadline_ms_left(deadline);
			if (ms <= 0 || poll(&pfd, 1, (int)ms) <= 0)
				return READ_TIMEOUT;
		}
	}
	return 0;
}

/* Why a read in the middle of the header failed, by what was read so far. */
static void
read_failed(const unsigned char *buf, size_t len, int rc, char *why, size_t whylen)
{
	int slow = rc == READ_TIMEOUT;

	if (len == 0)
		snprintf(why, whylen, "no PROXY header (%s)", slow ? "timeout" : "connection closed");
	else if (buf[0] == 'P')
		snprintf(why, whylen, "PROXY v1 line %s", slow ? "too slow" : "truncated");
	else if (len < V2_HEADER)
		snprintf(why, whylen, "PROXY v2 header %s", slow ? "too slow" : "truncated");
	else
		snprintf(why, whylen, "PROXY v2 addresses %s", slow ? "too slow" : "truncated");
}

int
proxy_read_header(int fd, const struct timespec *deadline,
    struct sockaddr_storage *client, struct sockaddr_storage *server,
    char *why, size_t whylen)
{
	unsigned char buf[V2_HEADER + V2_MAX];
	size_t len = 0, need = 1;
	int rc;

	for (;;) {
		if (need > sizeof(buf) - len)
			fatalx("proxy_parse asked for %zu octets past its buffer", need);
		if ((rc = read_exact(fd, buf + len, need, deadline)) < 0) {
			read_failed(buf, len, rc, why, whylen);
			return -1;
		}
		len += need;
		rc = proxy_parse(buf, len, &need, client, server, why, whylen);
		if (rc != PROXY_MORE)
			return rc == PROXY_DONE ? 0 : -1;
	}
}
