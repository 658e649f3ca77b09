/* SPDX-License-Identifier: ISC */
/*
 * unit-proxy.c - tests of the PROXY protocol header parser (worker/proxy.c):
 * proxy_parse() on v1 lines and v2 headers, whole, cut short, malformed,
 * and proxy_read_header() over a socketpair, which must never read a byte
 * past the header.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage client, server;
static char why[256];

/* Feed TEXT as a reader would: as many octets as the parser asks for. */
static int
feed(const void *text, size_t len)
{
	size_t have = 0, need = 1;
	int rc;

	memset(&client, 0, sizeof(client));
	memset(&server, 0, sizeof(server));
	why[0] = '\0';
	for (;;) {
		if (have + need > len)
			return PROXY_MORE;
		have += need;
		rc = proxy_parse(text, have, &need, &client, &server, why, sizeof(why));
		if (rc != PROXY_MORE)
			return rc;
		if (need < 1)
			return -99;
	}
}

static int
feeds(const char *text)
{
	return feed(text, strlen(text));
}

static const char *
addr(const struct sockaddr_storage *ss, unsigned *port)
{
	static char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		*port = ntohs(s4->sin_port);
		return inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		*port = ntohs(s6->sin6_port);
		return inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
	}
	*port = 0;
	return "none";
}

static void
test_v1(void)
{
	unsigned port;
	char line[200];

	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"), PROXY_DONE, "v1 TCP4");
	is_str(addr(&client, &port), "192.0.2.1", "v1 client address");
	is_int(port, 56324, "v1 client port");
	is_str(addr(&server, &port), "198.51.100.2", "v1 server address");
	is_int(port, 25, "v1 server port");
	is_int(feeds("PROXY TCP6 2001:db8::1 2001:db8::2 1 587\r\n"), PROXY_DONE, "v1 TCP6");
	is_str(addr(&client, &port), "2001:db8::1", "v1 IPv6 client");
	is_int(feeds("PROXY UNKNOWN\r\n"), PROXY_DONE, "v1 UNKNOWN");
	is_str(addr(&client, &port), "none", "UNKNOWN leaves the addresses alone");
	is_int(feeds("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), PROXY_DONE, "v1 UNKNOWN with addresses");
	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25"), PROXY_MORE, "v1 without line end wants more");
	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n"), PROXY_BAD, "v1 bare LF");
	is_str(why, "PROXY v1 line not ended by CRLF", "bare LF reason");
	is_int(feeds("PROXY TCP4 192.0.2.1  198.51.100.2 56324 25\r\n"), PROXY_BAD, "v1 empty field");
	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n"), PROXY_BAD, "v1 port over 65535");
	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 056324 25\r\n"), PROXY_BAD, "v1 port with leading 0");
	is_int(feeds("PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n"), PROXY_BAD, "v1 IPv6 address as TCP4");
	is_str(why, "bad address or port in the PROXY v1 line", "address reason");
	is_int(feeds("PROXY TCP5 192.0.2.1 198.51.100.2 1 25\r\n"), PROXY_BAD, "v1 unknown protocol");
	is_int(feeds("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"), PROXY_BAD, "v1 missing field");
	is_int(feeds("PROXYX TCP4\r\n"), PROXY_BAD, "v1 not PROXY");
	is_int(feed("PROXY \0TCP4\r\n", 13), PROXY_BAD, "v1 with a NUL");
	is_str(why, "NUL in the PROXY v1 line", "NUL reason");
	memset(line, 'A', sizeof(line));
	memcpy(line, "PROXY ", 6);
	is_int(feed(line, sizeof(line)), PROXY_BAD, "v1 line over 107 octets");
	is_str(why, "PROXY v1 line longer than 107 octets", "long line reason");
	is_int(feeds("GET / HTTP/1.0\r\n"), PROXY_BAD, "not a PROXY header");
}

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header: VERCMD, FAM, then BODYLEN octets of BODY. */
static size_t
v2(unsigned char *out, int vercmd, int fam, const unsigned char *body, size_t bodylen)
{
	memcpy(out, sig, 12);
	out[12] = (unsigned char)vercmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(bodylen >> 8);
	out[15] = (unsigned char)bodylen;
	memcpy(out + 16, body, bodylen);
	return 16 + bodylen;
}

static void
test_v2(void)
{
	unsigned char h[5000], body[4200];
	unsigned port;
	size_t n;

	memset(body, 0, sizeof(body));
	memcpy(body, "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19", 12);
	n = v2(h, 0x21, 0x11, body, 12);
	is_int(feed(h, n), PROXY_DONE, "v2 TCP over IPv4");
	is_str(addr(&client, &port), "192.0.2.1", "v2 client address");
	is_int(port, 56324, "v2 client port");
	is_str(addr(&server, &port), "198.51.100.2", "v2 server address");
	is_int(port, 25, "v2 server port");
	n = v2(h, 0x21, 0x11, body, 20);
	is_int(feed(h, n), PROXY_DONE, "v2 with TLVs after the addresses");
	is_int(feed(h, n - 1), PROXY_MORE, "v2 cut short wants more");
	is_int(feed(h, 10), PROXY_MORE, "v2 header cut short wants more");
	n = v2(h, 0x21, 0x11, body, 11);
	is_int(feed(h, n), PROXY_BAD, "v2 IPv4 block too short");
	is_str(why, "PROXY v2 address block too short", "short block reason");
	memset(body, 0, 36);
	body[15] = 1;
	body[31] = 2;
	body[33] = 1;
	n = v2(h, 0x21, 0x21, body, 36);
	is_int(feed(h, n), PROXY_DONE, "v2 TCP over IPv6");
	is_str(addr(&client, &port), "::1", "v2 IPv6 client");
	is_int(port, 1, "v2 IPv6 client port");
	n = v2(h, 0x20, 0x11, body, 12);
	is_int(feed(h, n), PROXY_DONE, "v2 LOCAL");
	is_str(addr(&client, &port), "none", "LOCAL leaves the addresses alone");
	n = v2(h, 0x21, 0x00, body, 0);
	is_int(feed(h, n), PROXY_DONE, "v2 UNSPEC");
	n = v2(h, 0x22, 0x11, body, 12);
	is_int(feed(h, n), PROXY_BAD, "v2 unknown command");
	n = v2(h, 0x11, 0x11, body, 12);
	is_int(feed(h, n), PROXY_BAD, "version 1 in a v2 header");
	is_str(why, "PROXY protocol version 1 is not 2", "version reason");
	n = v2(h, 0x21, 0x12, body, 12);
	is_int(feed(h, n), PROXY_BAD, "v2 UDP");
	n = v2(h, 0x21, 0x11, body, 4097);
	is_int(feed(h, n), PROXY_BAD, "v2 longer than 4096");
	n = v2(h, 0x21, 0x11, body, 12);
	h[5] = 'x';
	is_int(feed(h, n), PROXY_BAD, "v2 bad signature");
}

static void
test_socket(void)
{
	static const char msg[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n";
	struct timespec deadline;
	char rest[32];
	unsigned port;
	ssize_t n;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		ok(0, "socketpair");
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	n = write(sv[1], msg, sizeof(msg) - 1);
	ok(n == (ssize_t)sizeof(msg) - 1, "header and a command written");
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 5;
	is_int(proxy_read_header(sv[0], &deadline, &client, &server, why, sizeof(why)), 0,
	    "header read from a socket");
	is_str(addr(&client, &port), "192.0.2.1", "client address from the socket");
	n = read(sv[0], rest, sizeof(rest) - 1);
	rest[n > 0 ? n : 0] = '\0';
	is_str(rest, "EHLO x\r\n", "not a byte past the header was read");
	/* a header that stops coming: too slow */
	n = write(sv[1], "PROXY TCP4", 10);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	is_int(proxy_read_header(sv[0], &deadline, &client, &server, why, sizeof(why)), -1,
	    "a header cut short fails at the deadline");
	is_str(why, "PROXY v1 line too slow", "timeout reason");
	close(sv[1]);
	is_int(proxy_read_header(sv[0], &deadline, &client, &server, why, sizeof(why)), -1,
	    "no header on a closed connection");
	is_str(why, "no PROXY header (connection closed)", "closed reason");
	close(sv[0]);
}

int
main(void)
{
	test_v1();
	test_v2();
	test_socket();
	return done_testing();
}
