/* SPDX-License-Identifier: ISC */
/*
 * unit-esmtp.c - tests of the MAIL and RCPT parameter parsers
 * (worker/esmtp_params.c): what each keyword accepts, and which error (so
 * which reply: 555, 501, 552) each mistake gets.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/esmtp_params.h"

static struct mail_params mp;
static struct rcpt_params rp;
static struct esmtp_status st;

static int
mail(const char *params, long long max)
{
	if (mail_params_parse(params, 1, max, &mp, &st) < 0)
		return (int)st.error;
	return 0;
}

static int
rcpt(const char *params)
{
	if (rcpt_params_parse(params, 1, &rp, &st) < 0)
		return (int)st.error;
	return 0;
}

static void
test_mail(void)
{
	is_int(mail("", 1000), ESMTP_OK, "no parameters");
	is_int(mp.size, -1, "no SIZE is -1");
	is_int(mp.body, BODY_7BIT, "no BODY is 7BIT");
	is_int(mail("SIZE=1000", 1000), ESMTP_OK, "SIZE at the limit");
	is_int(mp.size, 1000, "SIZE value");
	is_int(mail("SIZE=1001", 1000), ESMTP_TOO_BIG, "SIZE over the limit");
	is_str(st.value, "1001", "the SIZE value is kept for the log");
	is_str(st.reason, "message size exceeds fixed limit", "SIZE reason");
	is_int(mail("SIZE=99999999999999999999999", 0), ESMTP_TOO_BIG, "SIZE overflow, no limit");
	is_int(mail("SIZE=123456789012", 0), ESMTP_OK, "large SIZE without a limit");
	is_int(mail("SIZE=12a", 1000), ESMTP_BAD, "SIZE not a number");
	is_str(st.reason, "bad SIZE parameter syntax", "SIZE syntax reason");
	is_int(mail("SIZE=", 1000), ESMTP_BAD, "empty SIZE");
	is_int(mail("SIZE=1 SIZE=2", 1000), ESMTP_BAD, "duplicate SIZE");
	is_str(st.reason, "duplicate SIZE parameter", "duplicate reason names it");
	is_int(mail("BODY=8bitmime", 0), ESMTP_OK, "BODY case-insensitive");
	is_int(mp.body, BODY_8BITMIME, "8BITMIME");
	is_int(mail("BODY=BINARYMIME", 0), ESMTP_OK, "BINARYMIME");
	is_int(mp.body, BODY_BINARYMIME, "BINARYMIME value");
	is_int(mail("BODY=9BIT", 0), ESMTP_BAD, "unknown BODY");
	is_int(mail("SMTPUTF8", 0), ESMTP_OK, "SMTPUTF8");
	is_int(mp.smtputf8, 1, "SMTPUTF8 flag");
	is_int(mail("SMTPUTF8=yes", 0), ESMTP_BAD, "SMTPUTF8 with a value");
	is_int(mail("AUTH=<>", 0), ESMTP_OK, "AUTH=<>");
	is_int(mail("AUTH=bob+40example.org", 0), ESMTP_OK, "AUTH xtext");
	is_int(mail("AUTH=bob+0Aevil", 0), ESMTP_BAD, "AUTH xtext hiding LF");
	is_int(mail("RET=hdrs", 0), ESMTP_OK, "RET");
	is_str(mp.ret, "HDRS", "RET upper-cased");
	is_int(mail("RET=BODY", 0), ESMTP_BAD, "bad RET");
	is_int(mail("ENVID=abc+2Bdef", 0), ESMTP_OK, "ENVID");
	is_str(mp.envid, "abc+2Bdef", "ENVID kept as xtext");
	is_int(mail("ENVID=a+0D+0Ab", 0), ESMTP_BAD, "ENVID hiding CR LF (CVE-2020-28026)");
	is_int(mail("ENVID=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0),
	    ESMTP_BAD, "ENVID over 100 octets");
	is_int(mail("FOO=bar", 0), ESMTP_UNKNOWN, "unknown keyword");
	is_str(st.reason, "unsupported parameter FOO", "unknown keyword reason");
	is_int(mail("SIZE=10 =x", 0), ESMTP_BAD, "a parameter without keyword");
	is_str(st.reason, "bad parameter syntax", "syntax reason");
	is_int(mail_params_parse("SIZE=10", 0, 0, &mp, &st), -1, "parameters after HELO");
	is_int(st.error, ESMTP_NEED_EHLO, "they need EHLO");
	is_int(mail_params_parse("", 0, 0, &mp, &st), 0, "no parameters after HELO is fine");
}

/* REQUIRETLS (RFC 8689) and MT-PRIORITY (RFC 6710). */
static int
mail_flags(const char *params, unsigned flags)
{
	if (mail_params_parse(params, flags, 0, &mp, &st) < 0)
		return (int)st.error;
	return 0;
}

static void
test_newer(void)
{
	const unsigned tls = ESMTP_EHLO | ESMTP_TLS;

	is_int(mail_flags("REQUIRETLS", tls), ESMTP_OK, "REQUIRETLS under TLS");
	is_int(mp.requiretls, 1, "REQUIRETLS flag");
	is_int(mail_flags("requiretls", tls), ESMTP_OK, "REQUIRETLS is case-insensitive");
	is_int(mail_flags("", tls), ESMTP_OK, "no REQUIRETLS");
	is_int(mp.requiretls, 0, "no REQUIRETLS flag");
	is_int(mail_flags("REQUIRETLS", ESMTP_EHLO), ESMTP_UNKNOWN, "REQUIRETLS without TLS: not offered (555)");
	is_str(st.reason, "REQUIRETLS needs TLS: send STARTTLS first", "and the reason says so");
	is_int(mail_flags("REQUIRETLS=YES", tls), ESMTP_BAD, "REQUIRETLS with a value");
	is_int(mail_flags("REQUIRETLS REQUIRETLS", tls), ESMTP_BAD, "REQUIRETLS twice");
	is_int(mail_flags("REQUIRETLS", ESMTP_TLS), ESMTP_NEED_EHLO, "REQUIRETLS after HELO");
	is_int(mail_flags("MT-PRIORITY=3", ESMTP_EHLO), ESMTP_OK, "MT-PRIORITY=3");
	is_int(mp.has_priority, 1, "MT-PRIORITY given");
	is_int(mp.priority, 3, "MT-PRIORITY value");
	is_int(mail_flags("MT-PRIORITY=-9", ESMTP_EHLO), ESMTP_OK, "MT-PRIORITY=-9");
	is_int(mp.priority, -9, "a negative priority");
	is_int(mail_flags("mt-priority=9", ESMTP_EHLO), ESMTP_OK, "MT-PRIORITY=9, lower-case keyword");
	is_int(mp.priority, 9, "the highest priority");
	is_int(mail_flags("MT-PRIORITY=0", ESMTP_EHLO), ESMTP_OK, "MT-PRIORITY=0");
	is_int(mp.has_priority, 1, "0 is given, not absent");
	is_int(mail_flags("", ESMTP_EHLO), ESMTP_OK, "no MT-PRIORITY");
	is_int(mp.has_priority, 0, "no MT-PRIORITY: not given");
	is_int(mail_flags("MT-PRIORITY=10", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=10 (501)");
	is_str(st.reason, "MT-PRIORITY must be a whole number from -9 to 9", "the reason");
	is_int(mail_flags("MT-PRIORITY=-10", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=-10");
	is_int(mail_flags("MT-PRIORITY=+3", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=+3 (no plus sign)");
	is_int(mail_flags("MT-PRIORITY=-0", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=-0");
	is_int(mail_flags("MT-PRIORITY=03", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=03");
	is_int(mail_flags("MT-PRIORITY=x", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY=x");
	is_int(mail_flags("MT-PRIORITY", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY without a value");
	is_int(mail_flags("MT-PRIORITY=1 MT-PRIORITY=2", ESMTP_EHLO), ESMTP_BAD, "MT-PRIORITY twice");
	is_int(mail_flags("MT-PRIORITY=-5 REQUIRETLS SIZE=10 BODY=8BITMIME", tls), ESMTP_OK, "all together");
	ok(mp.priority == -5 && mp.requiretls && mp.size == 10 && mp.body == BODY_8BITMIME, "all kept");
}

static void
test_rcpt(void)
{
	is_int(rcpt(""), ESMTP_OK, "no RCPT parameters");
	is_str(rp.notify, "", "no NOTIFY");
	is_int(rcpt("NOTIFY=success,failure"), ESMTP_OK, "NOTIFY list");
	is_str(rp.notify, "SUCCESS,FAILURE", "NOTIFY upper-cased");
	is_int(rcpt("NOTIFY=NEVER"), ESMTP_OK, "NOTIFY=NEVER");
	is_int(rcpt("NOTIFY=NEVER,DELAY"), ESMTP_BAD, "NEVER with others");
	is_int(rcpt("NOTIFY=DELAY,DELAY"), ESMTP_BAD, "NOTIFY repeated item");
	is_int(rcpt("NOTIFY=DELAY,"), ESMTP_BAD, "NOTIFY trailing comma");
	is_int(rcpt("NOTIFY=SUCCESS NOTIFY=DELAY"), ESMTP_BAD, "duplicate NOTIFY");
	is_int(rcpt("ORCPT=rfc822;bob+40example.org"), ESMTP_OK, "ORCPT");
	is_str(rp.orcpt, "rfc822;bob+40example.org", "ORCPT kept");
	is_int(rcpt("ORCPT=rfc822"), ESMTP_BAD, "ORCPT without ;");
	is_int(rcpt("ORCPT=;bob"), ESMTP_BAD, "ORCPT without type");
	is_int(rcpt("ORCPT=rfc_822;bob"), ESMTP_BAD, "ORCPT bad address type");
	is_str(st.reason, "bad ORCPT address type", "ORCPT type reason");
	is_int(rcpt("ORCPT=rfc822;a ORCPT=rfc822;b"), ESMTP_BAD, "duplicate ORCPT");
	is_int(rcpt("SIZE=10"), ESMTP_UNKNOWN, "SIZE is not an RCPT parameter");
	is_int(rcpt_params_parse("NOTIFY=NEVER", 0, &rp, &st), -1, "RCPT parameters after HELO");
	is_int(st.error, ESMTP_NEED_EHLO, "they need EHLO");
	is_str(st.reason, "RCPT parameters need EHLO", "RCPT EHLO reason");
}

int
main(void)
{
	test_mail();
	test_newer();
	test_rcpt();
	ok(xtext_valid("a+41b"), "xtext with a hex escape");
	ok(!xtext_valid("a+4"), "truncated xtext escape");
	ok(!xtext_valid("a+4a"), "lower-case hex is not xtext");
	ok(!xtext_valid("a=b"), "'=' is not xtext");
	return done_testing();
}
