/* SPDX-License-Identifier: ISC */
/*
 * unit-forward-reply.c - postern-forward's pure parts: the parser of a
 * downstream server's replies (hostile bytes included) and the line-end and
 * dot-stuffing conversion of the message.
 */
#include "tap.h"
#include "../hooks/forward/reply.h"
#include "../hooks/forward/body.h"

#include <stdlib.h>
#include <string.h>

static enum reply_err
parse(const char *s, struct reply *r)
{
	return reply_parse(s, strlen(s), r);
}

static void
test_replies(void)
{
	struct reply r;
	char big[5000];
	int i;

	is_int(parse("250 2.1.5 Ok\r\n", &r), REPLY_OK, "one line");
	is_int(r.code, 250, "its code");
	is_str(r.enhanced, "2.1.5", "its enhanced code");
	is_str(r.text, "Ok", "its text without the enhanced code");
	is_int(r.consumed, 14, "all bytes used");

	is_int(parse("550 5.1.1 <bob@example.org>: User unknown\r\n", &r), REPLY_OK, "a refusal");
	is_str(r.enhanced, "5.1.1", "refusal's enhanced code");
	is_str(r.text, "<bob@example.org>: User unknown", "refusal's text");

	is_int(parse("550 4.1.1 wrong class\r\n", &r), REPLY_OK, "an enhanced code of another class");
	is_str(r.enhanced, "", "is not taken");
	is_str(r.text, "4.1.1 wrong class", "and stays in the text");

	is_int(parse("250\r\n", &r), REPLY_OK, "a bare code");
	is_str(r.text, "", "has no text");
	is_int(parse("250 Ok\n", &r), REPLY_OK, "a bare LF ends a line too");

	is_int(parse("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-STARTTLS\r\n250-8BITMIME\r\n250-chunking\r\n250-DSN\r\n250-SMTPUTF8\r\n"
	    "250-XCLIENT NAME ADDR\r\n250 ENHANCEDSTATUSCODES\r\n", &r), REPLY_OK, "an EHLO reply");
	is_int(r.lines, 10, "its lines");
	ok(r.caps == (CAP_PIPELINING | CAP_SIZE | CAP_STARTTLS | CAP_8BITMIME | CAP_CHUNKING |
	    CAP_DSN | CAP_SMTPUTF8 | CAP_XCLIENT | CAP_ENHANCED), "its capabilities");
	is_int(r.size_max, 10240000, "SIZE's value");
	is_int(parse("250-mx\r\n250-STARTTLSX\r\n250 SIZE 99999999999999999999999\r\n", &r), REPLY_OK,
	    "look-alike keywords");
	ok(r.caps == CAP_SIZE && r.size_max == 0, "are not capabilities; a huge SIZE is ignored");
	is_int(parse("250 STARTTLS\r\n", &r), REPLY_OK, "a one-line reply");
	is_int(r.caps, 0, "has no capabilities (line 1 is the greeting)");

	is_int(parse("250-first\r\n250 second\r\nEXTRA", &r), REPLY_OK, "a reply with bytes after it");
	is_int(r.consumed, 23, "uses only its own bytes");
	is_str(r.text, "first second", "texts joined");

	is_int(parse("250-first\r\n", &r), REPLY_INCOMPLETE, "a continued line alone is incomplete");
	is_int(parse("250 no end", &r), REPLY_INCOMPLETE, "a line without LF is incomplete");
	is_int(parse("", &r), REPLY_INCOMPLETE, "nothing is incomplete");
	is_int(parse("250-a\r\n550 b\r\n", &r), REPLY_MIXED_CODES, "two codes in one reply");
	is_int(parse("HTTP/1.1 400 Bad Request\r\n", &r), REPLY_BAD_CODE, "an HTTP answer");
	is_int(parse("25\r\n", &r), REPLY_BAD_CODE, "a short code");
	is_int(parse("199 x\r\n", &r), REPLY_BAD_CODE, "a 1xx code");
	is_int(parse("650 x\r\n", &r), REPLY_BAD_CODE, "a 6xx code");
	is_int(parse("2a0 x\r\n", &r), REPLY_BAD_CODE, "a letter in the code");
	is_int(parse("250x\r\n", &r), REPLY_BAD_CODE, "no separator after the code");
	is_int(reply_parse("\x00\x01\x02\n", 4, &r), REPLY_BAD_CODE, "binary bytes");
	is_int(reply_parse("250 a\0b\r\n", 9, &r), REPLY_OK, "a NUL in the text");
	is_str(r.text, "a?b", "is made printable");
	is_int(parse("250 \x1b[31mred\xff\r\n", &r), REPLY_OK, "escape and 8-bit bytes");
	is_str(r.text, "?[31mred?", "are made printable");

	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	big[sizeof(big) - 1] = '\0';
	is_int(parse(big, &r), REPLY_TOO_LONG, "a line over 2048 bytes without LF");
	big[3000] = '\n';
	is_int(parse(big, &r), REPLY_TOO_LONG, "a line over 2048 bytes with LF");
	big[3000] = 'x';
	big[600] = '\n';
	is_int(parse(big, &r), REPLY_OK, "a 600-byte line");
	is_int(strlen(r.text), REPLY_TEXT_MAX, "its text is cut");
	{
		char *many = malloc(200 * 8 + 1);
		many[0] = '\0';
		for (i = 0; i < 200; i++)
			strcat(many, "250-abc\n");
		is_int(parse(many, &r), REPLY_TOO_MANY_LINES, "200 lines");
		free(many);
	}
	is_int(parse("250 2.0.0\r\n", &r), REPLY_OK, "an enhanced code and no text");
	is_str(r.enhanced, "2.0.0", "the code");
	is_int(parse("250 2.0.0000 x\r\n", &r), REPLY_OK, "a 4-digit detail");
	is_str(r.enhanced, "", "is no enhanced code");
	is_int(parse("250 2..0 x\r\n", &r), REPLY_OK, "an empty subject");
	is_str(r.enhanced, "", "is no enhanced code");
}

static const char *
conv(int dot, int binary, const char *in, size_t n)
{
	static char out[4096];
	struct body_conv bc;
	size_t o;

	body_init(&bc, dot, binary);
	o = body_convert(&bc, in, n, out);
	o += body_finish(&bc, out + o);
	out[o] = '\0';
	return out;
}

static void
test_body(void)
{
	struct body_conv bc;
	char out[64];
	size_t o;

	is_str(conv(1, 0, "a\nb\n", 4), "a\r\nb\r\n.\r\n", "LF becomes CR LF, then the dot");
	is_str(conv(1, 0, "a\r\nb\r\n", 6), "a\r\nb\r\n.\r\n", "CR LF stays");
	is_str(conv(1, 0, ".x\n..\n.\n", 8), "..x\r\n...\r\n..\r\n.\r\n", "dots are stuffed");
	is_str(conv(1, 0, "a\n.", 3), "a\r\n..\r\n.\r\n", "a last line without LF is ended");
	is_str(conv(1, 0, "", 0), ".\r\n", "an empty message");
	is_str(conv(0, 0, ".x\n", 3), ".x\r\n", "no stuffing for BDAT");
	is_str(conv(1, 0, "a\rb\n", 4), "a\rb\r\n.\r\n", "a bare CR is kept");
	is_str(conv(0, 1, "H: v\n\nbin\n\x00.\n", 13), "H: v\r\n\r\nbin\n", "BINARYMIME: header converted, body not");
	body_init(&bc, 1, 0);
	o = body_convert(&bc, "x\r", 2, out);
	o += body_convert(&bc, "\n.y\n", 4, out + o);
	out[o] = '\0';
	is_str(out, "x\r\n..y\r\n", "CR LF and a dot across two buffers");
}

int
main(void)
{
	test_replies();
	test_body();
	return done_testing();
}
