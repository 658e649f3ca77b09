/* SPDX-License-Identifier: ISC */
/*
 * unit-command.c - tests of the command-line parser (worker/command.c).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/command.h"

static void
check(const char *line, size_t len, enum smtp_verb verb, const char *arg, const char *name)
{
	struct smtp_command c;

	command_parse(line, len, &c);
	is_int(c.verb, verb, name);
	if (arg != NULL)
		is_str(c.arg, arg, name);
}

int
main(void)
{
	check("EHLO client.example", 19, CMD_EHLO, "client.example", "EHLO with argument");
	check("ehlo x", 6, CMD_EHLO, "x", "verbs are case-insensitive");
	check("MAIL FROM:<a@b>", 15, CMD_MAIL, "FROM:<a@b>", "MAIL keeps FROM: in the argument");
	check("RCPT TO:<a@b> X=1", 17, CMD_RCPT, "TO:<a@b> X=1", "RCPT with a parameter");
	check("DATA", 4, CMD_DATA, "", "DATA without argument");
	check("QUIT", 4, CMD_QUIT, "", "QUIT");
	check("STARTTLS", 8, CMD_STARTTLS, "", "STARTTLS");
	check("RSET", 4, CMD_RSET, "", "RSET");
	check("NOOP hello", 10, CMD_NOOP, "hello", "NOOP with a string");
	check("MAILX FROM:<a@b>", 16, CMD_UNKNOWN, NULL, "a longer verb is not MAIL");
	check("MAI", 3, CMD_UNKNOWN, NULL, "a prefix of a verb is unknown");
	check("", 0, CMD_EMPTY, NULL, "empty line");
	check("MAIL FROM:<a\0@b>", 16, CMD_BAD_CHARS, NULL, "NUL inside is refused");
	check("MAIL FROM:<a\r@b>", 16, CMD_BAD_CHARS, NULL, "bare CR inside is refused");
	{
		struct smtp_command c;
		command_parse("MAIL FROM:<\xc3\xa9@b>", 16, &c);
		ok(c.verb == CMD_MAIL && c.utf8 && !c.bad_utf8, "well-formed UTF-8 is flagged, not refused");
		command_parse("MAIL FROM:<\xc3\x28@b>", 16, &c);
		ok(c.verb == CMD_MAIL && !c.utf8 && c.bad_utf8, "broken UTF-8 is flagged bad");
		command_parse("NOOP \xc0\xaf", 7, &c);
		ok(c.bad_utf8, "overlong UTF-8 is bad");
		command_parse("NOOP \xed\xa0\x80", 8, &c);
		ok(c.bad_utf8, "a UTF-16 surrogate is bad");
		command_parse("NOOP \xf4\x90\x80\x80", 9, &c);
		ok(c.bad_utf8, "above U+10FFFF is bad");
		command_parse("NOOP \xf0\x9f\x93\xab", 9, &c);
		ok(c.utf8 && !c.bad_utf8, "a 4-byte character is fine");
		command_parse("NOOP \xe2\x82", 7, &c);
		ok(c.bad_utf8, "a truncated character is bad");
	}
	check("HELO\tx", 6, CMD_BAD_CHARS, NULL, "a tab is refused");
	check("\x7f", 1, CMD_BAD_CHARS, NULL, "DEL is refused");
	return done_testing();
}
