/* SPDX-License-Identifier: ISC */
/*
 * unit-policy.c - tests of the policy answer parser (worker/policy_answer.c):
 * accepting actions (PREPEND keeps its header), refusals with and without
 * enhanced codes, numeric actions, and answers that are no answer.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/hook.h"
#include "worker/policy.h"

#include <string.h>

static struct hook_result res;

static int
parse(const char *answer, enum hook_kind kind)
{
	hook_result_init(&res);
	return policy_parse_action("t", kind, answer, &res);
}

int
main(void)
{
	ok(parse("action=OK\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_ACCEPT, "OK accepts");
	ok(parse("action=dunno\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_ACCEPT, "dunno (any case) accepts");
	ok(parse("action=PREPEND Received-SPF: Pass (mailfrom) identity=mailfrom\n\n", HOOK_RCPT) == 0 &&
	    res.verdict == HOOK_ACCEPT, "PREPEND accepts");
	ok(res.prepend_len > 0 && strcmp(res.prepend, "Received-SPF: Pass (mailfrom) identity=mailfrom\n") == 0,
	    "PREPEND keeps its header text");
	ok(parse("action=WARN odd\n\n", HOOK_MAIL) == 0 && res.verdict == HOOK_ACCEPT && res.prepend_len == 0,
	    "WARN accepts and adds nothing");
	ok(parse("action=REJECT no thanks\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_REJECT, "REJECT refuses");
	is_str(res.reply, "550 5.7.1 no thanks", "REJECT text gets 550 5.7.1");
	parse("action=REJECT 5.1.1 no such user\n\n", HOOK_RCPT);
	is_str(res.reply, "550 5.1.1 no such user", "REJECT keeps its own enhanced code");
	parse("action=REJECT bad password\n\n", HOOK_AUTH);
	is_str(res.reply, "535 5.7.8 bad password", "REJECT at auth: 535 5.7.8");
	ok(parse("action=DEFER_IF_PERMIT later\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_TEMPFAIL, "DEFER_IF_PERMIT defers");
	is_str(res.reply, "450 4.7.1 later", "DEFER text gets 450 4.7.1");
	ok(parse("action=451 4.7.1 greylisted\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_TEMPFAIL, "451 defers");
	is_str(res.reply, "451 4.7.1 greylisted", "a numeric action keeps its text");
	ok(parse("action=554 go away\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_REJECT, "554 refuses");
	is_str(res.reply, "554 5.7.1 go away", "5.7.1 is added to a text without enhanced code");
	ok(parse("action=HOLD\n\n", HOOK_RCPT) == 0 && res.verdict == HOOK_ACCEPT, "an unsupported action is DUNNO");
	ok(parse("foo=bar\n\n", HOOK_RCPT) < 0, "no action line: no answer");
	ok(parse("action=OK\tx\n\n", HOOK_RCPT) < 0, "a tab in the action: no answer");
	ok(parse("action=REJECT caf\xc3\xa9\n\n", HOOK_RCPT) < 0, "8-bit text: no answer");
	return done_testing();
}
