/* SPDX-License-Identifier: ISC */
/*
 * unit-header.c - tests of worker/header.c: the check of headers steps
 * prepend, the streaming scanner of a header section (fed whole and byte
 * by byte), and the Authentication-Results matcher of RFC 8601 5 with
 * forged variants (case, comments, folding, quoting, look-alike ids).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/header.h"

#include <stdio.h>
#include <string.h>

static void
check(const char *line, int valid, const char *name)
{
	const char *why = header_check(line, strlen(line));

	ok(valid ? why == NULL : why != NULL, name);
}

static void
test_check(void)
{
	char big[1100];

	check("X-Spam: yes", 1, "a plain header is valid");
	check("Received-SPF: pass (mx.example: domain of a@b designates 1.2.3.4 as permitted sender)\tclient-ip=1.2.3.4", 1,
	    "a value with a tab is valid");
	check("X-Empty:", 1, "an empty value is valid");
	check("No colon here", 0, "no colon: invalid");
	check(": value", 0, "no name: invalid");
	check("Bad Name: x", 0, "a space in the name: invalid");
	check("X-A: a\rb", 0, "a CR in the value: invalid");
	check("X-A: a\nb", 0, "an LF in the value: invalid");
	check("X-A: caf\xc3\xa9", 0, "8-bit octets: invalid");
	check("X-A: a\x01", 0, "a control character: invalid");
	memset(big, 'x', sizeof(big));
	memcpy(big, "X-Big: ", 7);
	big[998] = '\0';
	check(big, 1, "998 octets: valid");
	big[998] = 'x';
	big[999] = '\0';
	check(big, 0, "999 octets: invalid");
}

struct seen {
	char names[32][64];
	long long start[32], end[32];
	int n;
};

static int
collect(void *arg, long long start, long long end, const char *f, size_t kept, int truncated)
{
	struct seen *s = arg;
	size_t l = strcspn(f, ":\n");

	(void)truncated;
	if (l > kept)
		l = kept;
	if (memchr(f, ':', kept) == NULL)
		return 0;
	if (s->n < 32) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int)l, f);
		s->start[s->n] = start;
		s->end[s->n] = end;
		s->n++;
	}
	return 1;
}

static void
scan(const char *msg, size_t step, struct seen *s)
{
	struct hdr_scan hs;
	size_t off = 0, len = strlen(msg);

	memset(s, 0, sizeof(*s));
	hdr_scan_init(&hs, 100);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		if (hdr_scan_feed(&hs, msg + off, n, collect, s))
			break;
		off += n;
	}
	hdr_scan_end(&hs, collect, s);
}

static void
test_scan(void)
{
	const char *msg = "Received: from a\r\n\tby b\r\nSubject: hi\r\nX-A: 1\r\n\r\nBody: not a header\r\n";
	const char *lf = "A: 1\nB: 2\n folded\n\nC: body\n";
	struct seen s1, s2;

	scan(msg, 4096, &s1);
	scan(msg, 1, &s2);
	is_int(s1.n, 3, "three fields before the empty line");
	is_str(s1.names[0], "Received", "first field");
	is_int((int)s1.start[1], 100 + 25, "a folded field ends where the next begins");
	is_int((int)s1.end[2], 100 + 46, "the last field ends at the empty line");
	ok(s1.n == s2.n && memcmp(s1.start, s2.start, sizeof(s1.start)) == 0 &&
	    memcmp(s1.end, s2.end, sizeof(s1.end)) == 0, "byte by byte gives the same fields");
	scan(lf, 3, &s1);
	is_int(s1.n, 2, "LF line ends: two fields");
	is_int((int)(s1.end[1] - s1.start[1]), 13, "the folded line belongs to its field");
	scan("A: 1\nnot a field\nB: 2\n\n", 2, &s1);
	is_int(s1.n, 1, "a line that is no field ends the header section");
	scan("A: 1\nB: 2", 1, &s1);
	is_int(s1.n, 2, "the end of input ends the last field");
}

static void
ar(const char *field, int truncated, enum ar_match want, const char *name)
{
	is_int(ar_match(field, strlen(field), truncated, "mx.example.org"), want, name);
}

static void
test_ar(void)
{
	ar("Authentication-Results: mx.example.org; spf=pass\r\n", 0, AR_OURS, "plain");
	ar("authentication-results: MX.Example.ORG; dkim=pass\r\n", 0, AR_OURS, "any case, name and id");
	ar("Authentication-Results : mx.example.org; x\r\n", 0, AR_OURS, "space before the colon");
	ar("Authentication-Results: (c (nested \\) x) ) mx.example.org; spf=pass\r\n", 0, AR_OURS,
	    "after a nested comment with a quoted-pair");
	ar("Authentication-Results:\r\n\tmx.example.org;\r\n\tspf=pass\r\n", 0, AR_OURS, "folded before the id");
	ar("Authentication-Results: \"mx.example.org\"; spf=pass\r\n", 0, AR_OURS, "a quoted-string id");
	ar("Authentication-Results: mx.example.org(c); spf=pass\r\n", 0, AR_OURS, "id followed by a comment");
	ar("Authentication-Results: mx.example.org 1; spf=pass\r\n", 0, AR_OURS, "id followed by a version");
	ar("Authentication-Results: mx.example.org\r\n", 0, AR_OURS, "id alone (none)");
	ar("Authentication-Results: mx.example.org.evil.example; spf=pass\r\n", 0, AR_OTHER, "a longer id");
	ar("Authentication-Results: x.mx.example.org; spf=pass\r\n", 0, AR_OTHER, "a subdomain");
	ar("Authentication-Results: other.example; smtp.mailfrom=mx.example.org\r\n", 0, AR_OTHER,
	    "our name later in the value");
	ar("X-Authentication-Results: mx.example.org; spf=pass\r\n", 0, AR_OTHER, "another field name");
	ar("Authentication-Results-Foo: mx.example.org\r\n", 0, AR_OTHER, "a longer field name");
	ar("Authentication-Results: (unterminated mx.example.org; x\r\n", 0, AR_OTHER,
	    "an unterminated comment in a whole field");
	ar("Authentication-Results: (a very long comment", 1, AR_OURS, "cut off in a comment: removed");
	ar("Authentication-Results: mx.exam", 1, AR_OURS, "cut off in the id: removed");
	ar("Subject: hello\r\n", 0, AR_OTHER, "an ordinary field");
	ar("no colon at all\r\n", 0, AR_NOT_FIELD, "no field");
	ar("Authentication-Results: ; spf=pass\r\n", 0, AR_OTHER, "an empty id");
}

int
main(void)
{
	test_check();
	test_scan();
	test_ar();
	return done_testing();
}
