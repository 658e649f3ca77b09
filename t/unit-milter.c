/* SPDX-License-Identifier: ISC */
/*
 * unit-milter.c - tests of the milter codec (worker/milter_proto.c), the
 * macro table (worker/milter_macro.c) and the end-of-message edits
 * (worker/milter_edit.c): exact bytes of every command, every reply
 * decoded or refused, and each edit's index semantics.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/milter.h"

#include <stdlib.h>

#define S(x) x, sizeof(x) - 1

static struct milter_buf b;

/* Is the encoded packet exactly WANT? */
static void
bytes(const char *want, size_t n, const char *name)
{
	if (!ok(b.len == n && memcmp(b.p, want, n) == 0, name)) {
		size_t i;
		printf("#   got %zu bytes:", b.len);
		for (i = 0; i < b.len; i++)
			printf(" %02x", b.p[i]);
		printf("\n");
	}
	b.len = 0;
}

static void
test_encoders(void)
{
	const char *names[] = { "j", "{daemon_name}", "{empty}", "_" };
	const char *values[] = { "mx.example", "mx", "", "c [192.0.2.1]" };
	const char *args[] = { "SIZE=100", "BODY=8BITMIME" };

	milter_enc_optneg(&b, 6, 0x1ff, 0x1ff7ff);
	bytes(S("\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xf7\xff"), "OPTNEG");
	milter_enc_macro(&b, SMFIC_CONNECT, names, values, 4);
	bytes(S("\0\0\0\x30" "DC" "j\0mx.example\0{daemon_name}\0mx\0_\0c [192.0.2.1]\0"),
	    "MACRO: empty values left out");
	milter_enc_connect(&b, "client.example", SMFIA_INET, 2525, "192.0.2.1");
	bytes(S("\0\0\0\x1d" "C" "client.example\0" "4" "\x09\xdd" "192.0.2.1\0"), "CONNECT inet");
	milter_enc_connect(&b, "c6", SMFIA_INET6, 25, "2001:db8::1");
	bytes(S("\0\0\0\x13" "C" "c6\0" "6" "\0\x19" "2001:db8::1\0"), "CONNECT inet6");
	milter_enc_connect(&b, "localhost", SMFIA_UNKNOWN, 0, NULL);
	bytes(S("\0\0\0\x0c" "C" "localhost\0" "U"), "CONNECT unknown family: no port, no address");
	milter_enc_helo(&b, "client");
	bytes(S("\0\0\0\x08" "H" "client\0"), "HELO");
	milter_enc_envelope(&b, SMFIC_MAIL, "<s@example.org>", args, 2);
	bytes(S("\0\0\0\x28" "M" "<s@example.org>\0SIZE=100\0BODY=8BITMIME\0"), "MAIL with ESMTP args");
	milter_enc_envelope(&b, SMFIC_RCPT, "<r@example.org>", NULL, 0);
	bytes(S("\0\0\0\x11" "R" "<r@example.org>\0"), "RCPT");
	milter_enc_header(&b, "Subject", "hi\n\tthere");
	bytes(S("\0\0\0\x13" "L" "Subject\0hi\n\tthere\0"), "HEADER");
	milter_enc_body(&b, (const unsigned char *)"a\r\nb\0c", 6);
	bytes(S("\0\0\0\x07" "B" "a\r\nb\0c"), "BODY keeps every byte");
	milter_enc_unknown(&b, "XFOO bar");
	bytes(S("\0\0\0\x0a" "U" "XFOO bar\0"), "UNKNOWN");
	milter_enc_empty(&b, SMFIC_DATA);
	milter_enc_empty(&b, SMFIC_EOH);
	milter_enc_empty(&b, SMFIC_BODYEOB);
	milter_enc_empty(&b, SMFIC_ABORT);
	milter_enc_empty(&b, SMFIC_QUIT);
	milter_enc_empty(&b, SMFIC_QUIT_NC);
	bytes(S("\0\0\0\x01T\0\0\0\x01N\0\0\0\x01" "E\0\0\0\x01" "A\0\0\0\x01Q\0\0\0\x01K"),
	    "DATA EOH EOB ABORT QUIT QUIT_NC");
	{
		unsigned char *big = calloc(1, MILTER_CHUNK + 1);
		ok(milter_enc_body(&b, big, MILTER_CHUNK) == 0 && b.len == MILTER_CHUNK + 5,
		    "BODY of 65535 bytes");
		b.len = 0;
		ok(milter_enc_body(&b, big, MILTER_CHUNK + 1) < 0 && b.len == 0,
		    "BODY over 65535 bytes refused");
		free(big);
	}
}

static void
test_frame(void)
{
	const unsigned char *d;
	size_t len, used;
	char cmd;

	is_int(milter_frame((const unsigned char *)"\0\0", 2, &cmd, &d, &len, &used),
	    MILTER_E_SHORT, "frame: 2 bytes are short");
	is_int(milter_frame((const unsigned char *)"\0\0\0\x03" "h\0", 6, &cmd, &d, &len, &used),
	    MILTER_E_SHORT, "frame: data still to come");
	is_int(milter_frame((const unsigned char *)"\0\0\0\0", 4, &cmd, &d, &len, &used),
	    MILTER_E_EMPTY, "frame: length 0");
	is_int(milter_frame((const unsigned char *)"\0\x01\x04\x01", 4, &cmd, &d, &len, &used),
	    MILTER_E_TOOBIG, "frame: 66561 bytes refused before reading them");
	is_int(milter_frame((const unsigned char *)"\xff\xff\xff\xff", 4, &cmd, &d, &len, &used),
	    MILTER_E_TOOBIG, "frame: 4 GiB refused");
	ok(milter_frame((const unsigned char *)"\0\0\0\x01" "cXX", 7, &cmd, &d, &len, &used) == MILTER_OK &&
	    cmd == 'c' && len == 0 && used == 5, "frame: CONTINUE, the rest left");
	ok(milter_frame((const unsigned char *)"\0\x01\x04\0", 4, &cmd, &d, &len, &used) == MILTER_E_SHORT,
	    "frame: 66560 bytes allowed (64 KiB + overhead)");
}

static enum milter_err
optneg(const char *p, size_t n, struct milter_optneg *o)
{
	return milter_dec_optneg((const unsigned char *)p, n, o);
}

static void
test_optneg(void)
{
	struct milter_optneg o;

	ok(optneg(S("\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xf7\xff"), &o) == MILTER_OK &&
	    o.version == 6 && o.actions == 0x1ff && o.pflags == 0x1ff7ff && !o.has_list[0],
	    "OPTNEG v6 reply");
	ok(optneg(S("\0\0\0\x02" "\0\0\0\x03" "\0\0\0\x10"), &o) == MILTER_OK &&
	    o.version == 2 && o.actions == 3 && o.pflags == SMFIP_NOBODY, "OPTNEG v2 reply");
	ok(optneg(S("\0\0\0\x06" "\0\0\x01\0" "\0\0\0\0" "\0\0\0\0{client_addr} j\0"
	    "\0\0\0\x05i {mail_addr}\0" "\0\0\0\x09ignored\0"), &o) == MILTER_OK &&
	    o.has_list[MILTER_STAGE_CONNECT] && strcmp(o.list[0], "{client_addr} j") == 0 &&
	    o.has_list[MILTER_STAGE_EOM] && strcmp(o.list[5], "i {mail_addr}") == 0 &&
	    !o.has_list[MILTER_STAGE_HELO], "OPTNEG with SETSYMLIST lists; unknown stage ignored");
	is_int(optneg(S("\0\0\0\x07" "\0\0\0\0" "\0\0\0\0"), &o), MILTER_E_VERSION, "OPTNEG version 7 refused");
	is_int(optneg(S("\0\0\0\x01" "\0\0\0\0" "\0\0\0\0"), &o), MILTER_E_VERSION, "OPTNEG version 1 refused");
	is_int(optneg(S("\0\0\0\x06" "\0\0\0\0" "\0\0\0"), &o), MILTER_E_FORMAT, "OPTNEG short");
	is_int(optneg(S("\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\0j"), &o), MILTER_E_FORMAT,
	    "OPTNEG list without NUL");
	is_int(optneg(S("\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0"), &o), MILTER_E_FORMAT,
	    "OPTNEG list cut in its stage number");
	is_int(optneg(S("\0\0\0\x06" "\0\0\0\0" "\0\0\0\0" "\0\0\0\0a\nb\0"), &o), MILTER_E_FORMAT,
	    "OPTNEG list with a control character");
}

static enum milter_err
reply(char cmd, const char *p, size_t n, struct milter_reply *r)
{
	return milter_dec_reply(cmd, (const unsigned char *)p, n, r);
}

static void
test_replies(void)
{
	struct milter_reply r;
	const char *simple = "acrtdsp4f";
	char name[64];

	for (; *simple; simple++) {
		snprintf(name, sizeof(name), "reply '%c' without data", *simple);
		ok(reply(*simple, "", 0, &r) == MILTER_OK && r.cmd == *simple, name);
		snprintf(name, sizeof(name), "reply '%c' with data refused", *simple);
		is_int(reply(*simple, "x", 1, &r), MILTER_E_FORMAT, name);
	}
	ok(reply('y', S("554 5.7.1 Go away\0"), &r) == MILTER_OK && r.code == 554 &&
	    strcmp(r.s1, "554 5.7.1 Go away") == 0, "REPLYCODE 554 with enhanced code");
	ok(reply('y', S("421 closing\0"), &r) == MILTER_OK && r.code == 421, "REPLYCODE without enhanced code");
	ok(reply('y', S("550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three\0"), &r) == MILTER_OK &&
	    r.code == 550, "REPLYCODE multi-line");
	is_int(reply('y', S("250 ok\0"), &r), MILTER_E_REPLYCODE, "REPLYCODE 2xx refused");
	is_int(reply('y', S("550 4.7.1 mixed\0"), &r), MILTER_E_REPLYCODE, "REPLYCODE class mismatch refused");
	is_int(reply('y', S("550-5.7.1 one\r\n551 5.7.1 two\0"), &r), MILTER_E_REPLYCODE,
	    "REPLYCODE lines with different codes refused");
	is_int(reply('y', S("550 5.7.1 one\r\n550 5.7.1 two\0"), &r), MILTER_E_REPLYCODE,
	    "REPLYCODE ' ' before the last line refused");
	is_int(reply('y', S("550 bad\nline\0"), &r), MILTER_E_REPLYCODE, "REPLYCODE bare LF refused");
	is_int(reply('y', S("55\0"), &r), MILTER_E_REPLYCODE, "REPLYCODE too short");
	is_int(reply('y', S("550 5.7.1\0x"), &r), MILTER_E_FORMAT, "REPLYCODE with bytes after the NUL");
	is_int(reply('y', S("550 5.7.1 x"), &r), MILTER_E_FORMAT, "REPLYCODE without NUL");
	is_int(reply('y', S("550 5.7 x\0"), &r), MILTER_E_REPLYCODE, "REPLYCODE bad enhanced code");
	ok(reply('h', S("X-Spam\0yes\0"), &r) == MILTER_OK && strcmp(r.s1, "X-Spam") == 0 &&
	    strcmp(r.s2, "yes") == 0, "ADDHEADER");
	is_int(reply('h', S("X-Spam\0"), &r), MILTER_E_FORMAT, "ADDHEADER without value");
	is_int(reply('h', S("\0v\0"), &r), MILTER_E_FORMAT, "ADDHEADER with empty name");
	ok(reply('i', S("\0\0\0\x03X-I\0v\0"), &r) == MILTER_OK && r.index == 3 &&
	    strcmp(r.s1, "X-I") == 0, "INSHEADER with index");
	ok(reply('m', S("\0\0\0\x02Subject\0\0"), &r) == MILTER_OK && r.index == 2 &&
	    r.s2[0] == '\0', "CHGHEADER with index and empty value");
	is_int(reply('m', S("\0\0\0"), &r), MILTER_E_FORMAT, "CHGHEADER without whole index");
	ok(reply('+', S("<n@example.org>\0"), &r) == MILTER_OK && r.s2 == NULL, "ADDRCPT");
	is_int(reply('+', S("<n@example.org>\0X\0"), &r), MILTER_E_FORMAT, "ADDRCPT with two strings");
	ok(reply('2', S("<n@example.org>\0NOTIFY=NEVER\0"), &r) == MILTER_OK &&
	    strcmp(r.s2, "NOTIFY=NEVER") == 0, "ADDRCPT_PAR with args");
	ok(reply('2', S("<n@example.org>\0"), &r) == MILTER_OK && r.s2 == NULL, "ADDRCPT_PAR without args");
	ok(reply('-', S("<a@example.org>\0"), &r) == MILTER_OK, "DELRCPT");
	ok(reply('e', S("<f@example.org>\0SIZE=10\0"), &r) == MILTER_OK && strcmp(r.s2, "SIZE=10") == 0,
	    "CHGFROM with args");
	ok(reply('b', S("any\0bytes"), &r) == MILTER_OK && r.bodylen == 9, "REPLBODY");
	ok(reply('q', S("virus found\0"), &r) == MILTER_OK && strcmp(r.s1, "virus found") == 0, "QUARANTINE");
	is_int(reply('Z', "", 0, &r), MILTER_E_UNKNOWN, "unknown reply");
	is_int(reply('O', "", 0, &r), MILTER_E_UNKNOWN, "OPTNEG is not a reply here");
}

static void
test_macros(void)
{
	struct milter_macros mm;

	memset(&mm, 0, sizeof(mm));
	mm.j = "mx.example";
	mm.underscore = "c [192.0.2.1]";
	mm.daemon_name = "submission";
	mm.rcpt_addr = "r@example.org";
	is_str(milter_macro_value(&mm, "j"), "mx.example", "macro j");
	is_str(milter_macro_value(&mm, "_"), "c [192.0.2.1]", "macro _");
	is_str(milter_macro_value(&mm, "{daemon_name}"), "submission", "macro {daemon_name}");
	is_str(milter_macro_value(&mm, "daemon_name"), "submission", "macro daemon_name without braces");
	is_str(milter_macro_value(&mm, "{rcpt_addr}"), "r@example.org", "macro {rcpt_addr}");
	ok(milter_macro_value(&mm, "{nosuch}") == NULL, "unknown macro");
	ok(milter_macro_value(&mm, "{cipher}") == NULL, "unset macro");
	is_str(milter_default_macros(MILTER_STAGE_CONNECT), "j {daemon_name} {daemon_addr} v _",
	    "Postfix's milter_connect_macros");
	is_str(milter_default_macros(MILTER_STAGE_RCPT), "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
	    "Postfix's milter_rcpt_macros");
}

#define MSG "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n" \
	"SUBJECT: two\r\n\r\nbody\r\n"

/* Apply the edits given as reply packets (cmd, index, s1, s2) to MSG. */
struct ed { char cmd; uint32_t index; const char *s1, *s2; };

static char *
apply(const char *msg, const struct ed *e, size_t n, struct milter_envelope *env, int leadspc)
{
	struct milter_edits ed;
	char *out = NULL, why[200];
	size_t i, outlen;
	static char res[8192];

	memset(&ed, 0, sizeof(ed));
	for (i = 0; i < n; i++) {
		struct milter_reply r;
		memset(&r, 0, sizeof(r));
		r.cmd = e[i].cmd;
		r.index = e[i].index;
		r.s1 = e[i].s1;
		r.s2 = e[i].s2;
		if (r.cmd == SMFIR_REPLBODY) {
			r.body = (const unsigned char *)e[i].s1;
			r.bodylen = strlen(e[i].s1);
		}
		if (milter_edits_add(&ed, &r, leadspc, why, sizeof(why)) < 0)
			printf("# edit %zu left out: %s\n", i, why);
	}
	if (milter_edits_apply(&ed, msg, strlen(msg), env, &out, &outlen) < 0)
		return NULL;
	snprintf(res, sizeof(res), "%.*s", (int)outlen, out);
	free(out);
	milter_edits_free(&ed);
	return res;
}

#define APPLY(msg, env, ...) ({ static const struct ed e_[] = { __VA_ARGS__ }; \
	apply(msg, e_, sizeof(e_) / sizeof(e_[0]), env, 0); })

static void
test_split(void)
{
	struct milter_hdr *h;
	size_t body;
	int sep;
	long n = milter_headers(S(MSG), &h, &body, &sep);
	char *v;

	ok(n == 4 && sep && strcmp(MSG + body, "body\r\n") == 0, "split: 4 fields, body after the empty line");
	v = milter_hdr_value(MSG, &h[0], 0);
	is_str(v, "from c (c [192.0.2.1])\n\tby mx", "folded value as the milter sees it (LF)");
	free(v);
	v = milter_hdr_value(MSG, &h[1], 1);
	is_str(v, " one", "HDR_LEADSPC keeps the leading space");
	free(v);
	free(h);
	n = milter_headers(S("Subject: x\r\nnot a header\r\nA: b\r\n"), &h, &body, &sep);
	ok(n == 1 && !sep && body == 12, "split: a non-header line starts the body");
	free(h);
	n = milter_headers(S(" folded first\r\n\r\n"), &h, &body, &sep);
	ok(n == 0 && body == 0, "split: a continuation line first is body");
	free(h);
	n = milter_headers(S("Obs : x\r\n\r\n"), &h, &body, &sep);
	ok(n == 1 && h[0].namelen == 3, "split: obsolete 'Name :' syntax");
	free(h);
}

static void
test_headers(void)
{
	struct milter_envelope env;

	memset(&env, 0, sizeof(env));
	is_str(APPLY(MSG, &env, { 'h', 0, "X-Spam", "yes" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\nX-Spam: yes\r\n\r\nbody\r\n", "add: after the last field");
	is_str(APPLY(MSG, &env, { 'i', 0, "X-Top", "t" }),
	    "X-Top: t\r\nReceived: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\n\r\nbody\r\n", "insert at 0: above our Received:");
	is_str(APPLY(MSG, &env, { 'i', 1, "X-I", "1" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nX-I: 1\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\n\r\nbody\r\n", "insert at 1: below Received: (a folded field counts once)");
	is_str(APPLY(MSG, &env, { 'i', 99, "X-End", "e" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\nX-End: e\r\n\r\nbody\r\n", "insert past the end: at the end");
	is_str(APPLY(MSG, &env, { 'm', 2, "subject", "new" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "subject: new\r\n\r\nbody\r\n", "change: the 2nd Subject, names in any case");
	is_str(APPLY(MSG, &env, { 'm', 0, "Subject", "zero" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: zero\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\n\r\nbody\r\n", "change: index 0 counts as 1");
	is_str(APPLY(MSG, &env, { 'm', 1, "Received", "" }),
	    "Subject: one\r\nTo: a@example.org\r\nSUBJECT: two\r\n\r\nbody\r\n",
	    "change with empty value: deletes the whole folded field");
	is_str(APPLY(MSG, &env, { 'm', 3, "Subject", "third" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\nSubject: third\r\n\r\nbody\r\n", "change past the last: added at the end");
	is_str(APPLY(MSG, &env, { 'm', 5, "X-None", "" }), MSG, "delete of a missing field: nothing");
	is_str(APPLY(MSG, &env, { 'h', 0, "X-F", "a\nb\r\n\tc\rd" }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\nX-F: a\r\n\tb\r\n\tc\r\n\td\r\n\r\nbody\r\n",
	    "folded value: CR LF, a blank added where the milter gave none");
	is_str(APPLY(MSG, &env, { 'h', 0, "Bad Name", "x" }, { 'h', 0, "X-C", "a\001b" }), MSG,
	    "invalid name or control character: edit left out");
	is_str(APPLY(MSG, &env, { 'm', 1, "To", "" }, { 'i', 0, "To", "b@example.org" },
	    { 'm', 1, "subject", "" }, { 'm', 1, "subject", "" }),
	    "To: b@example.org\r\nReceived: from c (c [192.0.2.1])\r\n\tby mx\r\n\r\nbody\r\n",
	    "edits apply in order, each on the result of the last");
	ok(apply(MSG, (struct ed[]){ { 'h', 0, "X-L", "v" } }, 1, &env, 1) != NULL &&
	    strstr(apply(MSG, (struct ed[]){ { 'h', 0, "X-L", " v" } }, 1, &env, 1), "X-L: v\r\n") != NULL,
	    "HDR_LEADSPC: the milter's own leading space is kept, none added");
	is_str(APPLY("Subject: x\r\n", &env, { 'h', 0, "X-A", "1" }), "Subject: x\r\nX-A: 1\r\n",
	    "a message of headers only stays without empty line");
	milter_envelope_free(&env);
}

static void
test_body_envelope(void)
{
	struct milter_envelope env;

	memset(&env, 0, sizeof(env));
	is_str(APPLY(MSG, &env, { 'b', 0, "new\r\n", NULL }, { 'b', 0, "more\nlast", NULL }),
	    "Received: from c (c [192.0.2.1])\r\n\tby mx\r\nSubject: one\r\nTo: a@example.org\r\n"
	    "SUBJECT: two\r\n\r\nnew\r\nmore\r\nlast\r\n",
	    "body replaced twice: the chunks concatenated, LF made CR LF, a line end added");
	is_str(APPLY("Subject: x\r\n\r\nold\r\n", &env, { 'b', 0, "", NULL }), "Subject: x\r\n\r\n",
	    "body replaced by nothing");
	is_str(APPLY("Subject: x\r\n\r\nold\r\n", &env, { 'b', 0, "a\r", NULL }, { 'b', 0, "\nb\r\n", NULL }),
	    "Subject: x\r\n\r\na\r\nb\r\n", "a CR LF split between two chunks stays one line end");
	milter_envelope_set_sender(&env, "s@example.org", "");
	milter_envelope_add_rcpt(&env, "a@example.org", "NOTIFY=NEVER");
	milter_envelope_add_rcpt(&env, "b@example.org", "");
	APPLY(MSG, &env, { '+', 0, "<n@example.org>", NULL }, { '2', 0, "<p@example.org>", "NOTIFY=SUCCESS" },
	    { '-', 0, "<A@Example.ORG>", NULL }, { 'e', 0, "<f@example.org>", "SIZE=100" });
	ok(env.nrcpts == 3 && strcmp(env.rcpts[0].addr, "b@example.org") == 0 &&
	    strcmp(env.rcpts[1].addr, "n@example.org") == 0 && env.rcpts[1].args[0] == '\0' &&
	    strcmp(env.rcpts[2].addr, "p@example.org") == 0 &&
	    strcmp(env.rcpts[2].args, "NOTIFY=SUCCESS") == 0, "add, add with args, delete (any case)");
	ok(strcmp(env.sender, "f@example.org") == 0 && strcmp(env.sender_args, "SIZE=100") == 0,
	    "change sender with args");
	APPLY(MSG, &env, { 'e', 0, "<>", NULL }, { '-', 0, "nobody@example.org", NULL });
	ok(env.sender[0] == '\0' && env.nrcpts == 3, "null sender; deleting a missing recipient does nothing");
	milter_envelope_free(&env);
}

int
main(void)
{
	test_encoders();
	test_frame();
	test_optneg();
	test_replies();
	test_macros();
	test_split();
	test_headers();
	test_body_envelope();
	milter_buf_free(&b);
	return done_testing();
}
