/* SPDX-License-Identifier: ISC */
/*
 * unit-address.c - tests of the RFC 5321 path and parameter parser
 * (worker/address.c).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/address.h"

static enum path_error
parse(const char *arg, const char *prefix, int null_ok, int pm, char *box)
{
	const char *params, *why;

	return smtp_parse_path(arg, prefix, null_ok, pm, 0, box, SMTP_PATH_MAX + 1, &params, &why);
}

int
main(void)
{
	char box[SMTP_PATH_MAX + 1], lp[80], dom[300], arg[700];
	const char *params, *why, *cur;
	char kw[32], val[64];

	is_int(parse("FROM:<alice@example.org>", "FROM:", 1, 0, box), PATH_OK, "plain sender");
	is_str(box, "alice@example.org", "mailbox without brackets");
	is_int(parse("from:<a@b.c>", "FROM:", 1, 0, box), PATH_OK, "prefix case-insensitive");
	is_int(parse("FROM: <a@b.c>", "FROM:", 1, 0, box), PATH_OK, "space after colon tolerated");
	is_int(parse("FROM:<>", "FROM:", 1, 0, box), PATH_OK, "null reverse-path");
	is_str(box, "", "null path is empty");
	is_int(parse("TO:<>", "TO:", 0, 1, box), PATH_BAD_ADDRESS, "null forward-path refused");
	is_int(parse("TO:<Postmaster>", "TO:", 0, 1, box), PATH_OK, "bare Postmaster accepted");
	is_int(parse("TO:<bob>", "TO:", 0, 1, box), PATH_BAD_ADDRESS, "other bare local part refused");
	is_int(parse("TO:<@relay.example,@r2.example:bob@example.org>", "TO:", 0, 1, box), PATH_OK, "source route accepted");
	is_str(box, "bob@example.org", "source route ignored");
	is_int(parse("TO:<\"john doe\"@example.org>", "TO:", 0, 1, box), PATH_OK, "quoted local part");
	is_str(box, "\"john doe\"@example.org", "quoted local part kept as sent");
	is_int(parse("TO:<\"a>b\"@example.org>", "TO:", 0, 1, box), PATH_OK, "'>' inside quotes");
	is_int(parse("TO:<bob@[192.0.2.1]>", "TO:", 0, 1, box), PATH_OK, "address literal");
	is_int(parse("TO:<bob@[IPv6:2001:db8::1]>", "TO:", 0, 1, box), PATH_OK, "IPv6 literal");
	is_int(parse("FROM:alice@example.org", "FROM:", 1, 0, box), PATH_SYNTAX, "brackets required");
	is_int(parse("FROM:<alice@example.org", "FROM:", 1, 0, box), PATH_SYNTAX, "missing '>'");
	is_int(parse("TO:<a@b>", "FROM:", 1, 0, box), PATH_SYNTAX, "wrong prefix");
	is_int(parse("FROM:<a@b>x", "FROM:", 1, 0, box), PATH_SYNTAX, "garbage after '>'");
	is_int(parse("FROM:<a..b@c>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "double dot");
	is_int(parse("FROM:<.a@c>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "leading dot");
	is_int(parse("FROM:<a@-c.org>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "label starts with '-'");
	is_int(parse("FROM:<a@c..org>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "empty label");
	is_int(parse("FROM:<a b@c>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "space in local part");
	is_int(parse("FROM:<$(touch x)@a>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "shell syntax refused");
	is_int(parse("FROM:<`id`@a>", "FROM:", 1, 0, box), PATH_OK, "backticks are atext (harmless: no shell)");
	ok(parse("FROM:<a\"b@c>", "FROM:", 1, 0, box) != PATH_OK, "stray quote");
	is_int(parse("FROM:<a@b\r>", "FROM:", 1, 0, box), PATH_BAD_ADDRESS, "CR in domain");
	is_int(parse("FROM:<\xc3\xa9@b.c>", "FROM:", 1, 0, box), PATH_NON_ASCII, "UTF-8 needs SMTPUTF8");

	memset(lp, 'a', 64); lp[64] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", lp);
	is_int(parse(arg, "FROM:", 1, 0, box), PATH_OK, "64-octet local part accepted");
	memset(lp, 'a', 65); lp[65] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@example.org>", lp);
	is_int(parse(arg, "FROM:", 1, 0, box), PATH_TOO_LONG, "65-octet local part refused");
	/* a 252-octet domain of 63-octet labels: path = 1+1+1+252+1 = 256 */
	memset(dom, 'd', 252); dom[252] = '\0';
	dom[63] = dom[127] = dom[191] = '.';
	snprintf(arg, sizeof(arg), "FROM:<a@%s>", dom);
	is_int(parse(arg, "FROM:", 1, 0, box), PATH_OK, "256-octet path accepted");
	snprintf(arg, sizeof(arg), "FROM:<ab@%s>", dom);
	is_int(parse(arg, "FROM:", 1, 0, box), PATH_TOO_LONG, "257-octet path refused");

	ok(smtp_parse_path("FROM:<a@b> SIZE=100 BODY=8BITMIME", "FROM:", 1, 0, 0, box, sizeof(box), &params, &why) == PATH_OK, "path with parameters");
	cur = params;
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), 1, "first parameter");
	is_str(kw, "SIZE", "keyword");
	is_str(val, "100", "value");
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), 1, "second parameter");
	is_str(kw, "BODY", "second keyword");
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), 0, "end of parameters");
	cur = "size=1";
	smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val));
	is_str(kw, "SIZE", "keywords are upper-cased");
	cur = "SMTPUTF8";
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), 1, "keyword without value");
	is_str(val, "", "empty value");
	cur = "X=a=b";
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), -1, "'=' in a value refused");
	cur = "X=";
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), -1, "empty value after '=' refused");
	cur = "-X=1";
	is_int(smtp_next_param(&cur, kw, sizeof(kw), val, sizeof(val)), -1, "keyword must start alphanumeric");
	ok(smtp_parse_path("FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", "FROM:", 1, 0, 1, box, sizeof(box), &params, &why) == PATH_OK, "UTF-8 address with SMTPUTF8");
	is_str(box, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "UTF-8 address kept as sent");
	ok(smtp_parse_path("FROM:<\"\xc3\xa9 x\"@b.example>", "FROM:", 1, 0, 1, box, sizeof(box), &params, &why) == PATH_OK, "UTF-8 in a quoted local part");
	/* issue 13 finding 7: control and line-separator code points */
	{
		static const struct { const char *arg, *what; } bad[] = {
			{ "FROM:<a\xc2\x85" "b@example.org>", "U+0085 NEL (C1) in a local part" },
			{ "FROM:<a\xc2\x80@example.org>", "U+0080 (C1) in a local part" },
			{ "FROM:<a\xc2\x9f@example.org>", "U+009F (C1) in a local part" },
			{ "FROM:<\"a\xc2\x9b x\"@example.org>", "U+009B CSI in a quoted local part" },
			{ "FROM:<a\xe2\x80\xa8" "b@example.org>", "U+2028 LINE SEPARATOR" },
			{ "FROM:<a@ex\xe2\x80\xa9" "ample.org>", "U+2029 PARAGRAPH SEPARATOR in the domain" },
			{ "FROM:<a\xe2\x80\xae" "b@example.org>", "U+202E RIGHT-TO-LEFT OVERRIDE" },
			{ "FROM:<a\xe2\x81\xa6" "b@example.org>", "U+2066 LEFT-TO-RIGHT ISOLATE" },
			{ "FROM:<a\xe2\x80\x8b" "b@example.org>", "U+200B ZERO WIDTH SPACE" },
			{ "FROM:<\xef\xbb\xbf" "a@example.org>", "U+FEFF BOM" },
		};
		char name[128];
		size_t k;
		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			snprintf(name, sizeof(name), "SMTPUTF8: %s refused", bad[k].what);
			ok(smtp_parse_path(bad[k].arg, "FROM:", 1, 0, 1, box, sizeof(box), &params, &why) ==
			    PATH_BAD_ADDRESS, name);
		}
		ok(smtp_parse_path("FROM:<a\xc2\xa0" "b@example.org>", "FROM:", 1, 0, 1, box, sizeof(box), &params, &why) ==
		    PATH_OK, "SMTPUTF8: U+00A0 (first code point after C1) accepted");
		ok(smtp_parse_path("FROM:<\xe2\x80\x90@example.org>", "FROM:", 1, 0, 1, box, sizeof(box), &params, &why) ==
		    PATH_OK, "SMTPUTF8: U+2010 HYPHEN accepted");
	}
	return done_testing();
}
