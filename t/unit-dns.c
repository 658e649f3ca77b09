/* SPDX-License-Identifier: ISC */
/*
 * unit-dns.c - tests of the pure parts of the client-name lookup: the
 * [server] resolver address (common/resolver.c), host-name validation of
 * names from the DNS and the PTR query name (worker/dns.c).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "common/resolver.h"
#include "worker/dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void
resolver_ok(const char *spec, int family, const char *addr, unsigned port)
{
	struct resolver_addr r;
	unsigned char want[16];
	char err[256], name[128];

	inet_pton(family, addr, want);
	snprintf(name, sizeof(name), "resolver '%s' is %s port %u", spec, addr, port);
	if (!ok(resolver_parse(spec, &r, err, sizeof(err)) == 0 && r.family == family &&
	    memcmp(r.addr, want, family == AF_INET ? 4 : 16) == 0 && r.port == port, name))
		printf("#   error: %s\n", err);
}

static void
resolver_bad(const char *spec, const char *why)
{
	struct resolver_addr r;
	char err[256], name[128];

	err[0] = '\0';
	snprintf(name, sizeof(name), "resolver '%s' is refused (%s)", spec, why);
	if (!ok(resolver_parse(spec, &r, err, sizeof(err)) < 0 && strstr(err, why) != NULL, name))
		printf("#   error: %s\n", err);
}

int
main(void)
{
	static const char *const good[] = {
		"mail.example.org", "localhost", "a", "MX1.Example.COM", "host-1.example",
		"_dmarc-like_label.example", "1.example", "123abc", "x.1a",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		NULL
	};
	static const char *const bad[] = {
		"", ".", "example.", ".example", "a..b", "-a.example", "a-.example",
		"a.-b", "192.0.2.1", "1.2.3", "example.123", "a b.example", "a\tb",
		"a/b.example", "a\\.b.example", "caf\xc3\xa9.example", "a;rm -rf.example",
		"a\r\nX-Header: 1", "(unknown)", "[192.0.2.1]", "a@b",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		NULL
	};
	char longname[300], q[128];
	unsigned char a4[4] = { 192, 0, 2, 1 }, a6[16];
	int i;

	resolver_ok("127.0.0.1", AF_INET, "127.0.0.1", 53);
	resolver_ok("127.0.0.1:5353", AF_INET, "127.0.0.1", 5353);
	resolver_ok("::1", AF_INET6, "::1", 53);
	resolver_ok("[::1]", AF_INET6, "::1", 53);
	resolver_ok("[2001:db8::53]:10053", AF_INET6, "2001:db8::53", 10053);
	resolver_bad("", "not a numeric");
	resolver_bad("localhost", "not a numeric");
	resolver_bad("ns.example:53", "not a numeric");
	resolver_bad("127.0.0.1:0", "port");
	resolver_bad("127.0.0.1:65536", "port");
	resolver_bad("127.0.0.1:53x", "port");
	resolver_bad("127.0.0.1:", "port");
	resolver_bad("[::1", "[IPv6]");
	resolver_bad("[::1]53", "[IPv6]");
	resolver_bad("[127.0.0.1]:53", "not a numeric");
	resolver_bad("::1:53:x", "not a numeric");
	resolver_bad("1.2.3.4.5", "not a numeric");

	for (i = 0; good[i] != NULL; i++) {
		char name[128];
		snprintf(name, sizeof(name), "valid host name: %s", good[i]);
		ok(dns_valid_hostname(good[i]), name);
	}
	for (i = 0; bad[i] != NULL; i++) {
		char name[128], clean[64];
		size_t j;
		for (j = 0; bad[i][j] != '\0' && j + 1 < sizeof(clean); j++)
			clean[j] = bad[i][j] >= 0x20 && bad[i][j] < 0x7f ? bad[i][j] : '?';
		clean[j] = '\0';
		snprintf(name, sizeof(name), "not a host name: '%s'", clean);
		ok(!dns_valid_hostname(bad[i]), name);
	}
	/* 253 octets is the most, 254 too many */
	memset(longname, 'a', sizeof(longname));
	for (i = 63; i < 300; i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	longname[252] = 'a';
	ok(dns_valid_hostname(longname), "a name of 253 octets is valid");
	longname[253] = 'b';
	longname[254] = '\0';
	ok(!dns_valid_hostname(longname), "a name of 254 octets is not");

	ok(dns_ptr_qname(AF_INET, a4, q, sizeof(q)) == 0, "PTR name for 192.0.2.1");
	is_str(q, "1.2.0.192.in-addr.arpa", "... is 1.2.0.192.in-addr.arpa");
	inet_pton(AF_INET6, "2001:db8::567:89ab", a6);
	ok(dns_ptr_qname(AF_INET6, a6, q, sizeof(q)) == 0, "PTR name for 2001:db8::567:89ab");
	is_str(q, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	    "... is the RFC 3596 nibble form");
	ok(dns_ptr_qname(AF_INET6, a6, q, 72) < 0, "a buffer too small for ip6.arpa is refused");
	ok(dns_ptr_qname(AF_INET, a4, q, 10) < 0, "a buffer too small for in-addr.arpa is refused");
	return done_testing();
}
