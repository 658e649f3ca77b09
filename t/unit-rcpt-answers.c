/* SPDX-License-Identifier: ISC */
/*
 * unit-rcpt-answers.c - tests of rcpt_answer_parse (worker/rcpt_answers.c):
 * a per-recipient answer "ADDRESS NNN [X.Y.Z] text" matched against the
 * accepted recipients: bare and <> addresses, the longest match, a quoted
 * local part with a space, default enhanced codes, bad codes and bytes,
 * addresses that are not recipients, and lines cut short.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/rcpt_answers.h"

#include <string.h>

static const char rcpts[] = "bob@example.org\ncarol@example.org\n\"a b\"@example.org\nbob@example.org.uk\n";

static enum rcpt_answer_error
parse(const char *line, struct rcpt_answer *a)
{
	return rcpt_answer_parse(line, strlen(line), rcpts, sizeof(rcpts) - 1, a);
}

int
main(void)
{
	struct rcpt_answer a;
	char big[2000];

	is_int(parse("bob@example.org 250 2.0.0 stored", &a), RA_OK, "a bare address");
	is_int(a.index, 0, "the first recipient");
	is_int(a.code, 250, "its code");
	is_str(a.reply, "250 2.0.0 stored", "its reply as given");
	is_int(parse("<carol@example.org> 550 5.1.1 unknown", &a), RA_OK, "an address in <>");
	is_int(a.index, 1, "the second recipient");
	is_str(a.reply, "550 5.1.1 unknown", "the reply");
	is_int(parse("\"a b\"@example.org 452 over quota", &a), RA_OK, "a quoted local part with a space");
	is_int(a.index, 2, "matched whole");
	is_str(a.reply, "452 4.0.0 over quota", "a default enhanced code of the class");
	is_int(parse("bob@example.org.uk 451 4.3.0 later", &a), RA_OK, "a recipient that extends another");
	is_int(a.index, 3, "the longest match wins");
	is_int(parse("carol@example.org 550", &a), RA_OK, "a code alone");
	is_str(a.reply, "550 5.0.0 Error: refused for this recipient", "gets a default text");
	is_int(parse("carol@example.org 250 2.1.5", &a), RA_OK, "an enhanced code alone");
	is_str(a.reply, "250 2.1.5", "is kept as the text");
	is_int(parse("carol@example.org 550 4.1.1 wrong class", &a), RA_OK, "an enhanced code of another class");
	is_str(a.reply, "550 5.0.0 4.1.1 wrong class", "is text, with a default code in front");
	is_int(parse("dave@example.org 250 ok", &a), RA_NO_RCPT, "not a recipient");
	is_int(parse("bob@example.or 250 ok", &a), RA_NO_RCPT, "a prefix of a recipient is not one");
	is_int(parse("bob@example.org", &a), RA_NO_RCPT, "no code at all");
	is_int(parse("bob@example.org 999 x", &a), RA_BAD_CODE, "code 999");
	is_int(parse("bob@example.org 354 x", &a), RA_BAD_CODE, "code 354");
	is_int(parse("bob@example.org 25", &a), RA_BAD_CODE, "two digits");
	is_int(parse("bob@example.org 2500 x", &a), RA_BAD_CODE, "four digits");
	is_int(parse("bob@example.org 250 bad\001byte", &a), RA_BAD_TEXT, "a control byte");
	is_int(parse("bob@example.org 250 caf\303\251", &a), RA_BAD_TEXT, "an 8-bit byte");
	is_int(parse("<bob@example.org 250 x", &a), RA_NO_RCPT, "an unclosed <");
	is_int(parse("", &a), RA_NO_RCPT, "an empty line");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "bob@example.org 550 5.7.1 ", 26);
	is_int(parse(big, &a), RA_OK, "a long text");
	ok(strlen(a.reply) < sizeof(a.reply) && strncmp(a.reply, "550 5.7.1 xxx", 13) == 0, "is cut to fit a reply line");
	is_int(rcpt_answer_parse("bob@example.org 250 x", 21, "", 0, &a), RA_NO_RCPT, "no recipients at all");
	return done_testing();
}
