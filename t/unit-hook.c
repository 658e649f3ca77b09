/* SPDX-License-Identifier: ISC */
/*
 * unit-hook.c - tests of how a hook's answer is classified (worker/hook.c):
 * hook_reply_code() on reply lines, and hook_run() on real /bin/sh hooks:
 * each exit status of DESIGN.md's table, a reply line of the right class
 * kept, one of the wrong class or with control bytes dropped, a signal, a
 * timeout, a program that cannot start.
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/hook.h"

#include <string.h>

static struct hook_result res;

/* Run "sh -c SCRIPT" as a rcpt hook with a timeout of SECONDS. */
static enum hook_verdict
run(const char *script, int seconds)
{
	struct hook_command cmd;
	struct hook_call call;

	memset(&cmd, 0, sizeof(cmd));
	cmd.argv[0] = (char *)"/bin/sh";
	cmd.argv[1] = (char *)"-c";
	cmd.argv[2] = (char *)script;
	cmd.timeout = seconds;
	memset(&call, 0, sizeof(call));
	call.kind = HOOK_RCPT;
	call.cmd = &cmd;
	call.directory = "/";
	call.stdin_fd = -1;
	hook_run(&call, &res);
	return res.verdict;
}

static void
test_reply_code(void)
{
	is_int(hook_reply_code("250 ok"), 250, "250 with text");
	is_int(hook_reply_code("550"), 550, "a bare code");
	is_int(hook_reply_code("599 x"), 599, "599");
	is_int(hook_reply_code("200 x"), 200, "200");
	is_int(hook_reply_code("199 x"), 0, "1xx is no reply here");
	is_int(hook_reply_code("600 x"), 0, "6xx");
	is_int(hook_reply_code("55 x"), 0, "two digits");
	is_int(hook_reply_code("5500 x"), 0, "four digits");
	is_int(hook_reply_code("550-x"), 0, "a continuation line");
	is_int(hook_reply_code("5a0 x"), 0, "not digits");
	is_int(hook_reply_code(""), 0, "empty");
}

static void
test_run(void)
{
	is_int(run("exit 0", 10), HOOK_ACCEPT, "exit 0 accepts");
	is_str(res.reply, "", "no reply line");
	is_int(run("exit 1", 10), HOOK_REJECT, "exit 1 rejects");
	is_int(run("exit 67", 10), HOOK_REJECT, "exit 67 (no such user) rejects");
	is_int(res.exit_status, 67, "its status is kept for the reply");
	is_int(run("exit 68", 10), HOOK_REJECT, "exit 68 (no such domain) rejects");
	is_int(run("exit 77", 10), HOOK_REJECT, "exit 77 (not allowed) rejects");
	is_int(run("exit 75", 10), HOOK_TEMPFAIL, "exit 75 is a temporary failure");
	is_int(run("exit 2", 10), HOOK_FAILED, "any other status is a hook failure");
	is_int(run("kill -9 $$", 10), HOOK_FAILED, "a signal is a hook failure");
	is_int(res.exit_status, -1, "with no exit status");
	is_int(run("echo '550 5.1.1 <bob>: no such user'; exit 67", 10), HOOK_REJECT, "reject with text");
	is_str(res.reply, "550 5.1.1 <bob>: no such user", "a 5xx line kept for a rejection");
	is_int(run("printf '451 4.7.1 later\\r\\n'; exit 75", 10), HOOK_TEMPFAIL, "tempfail with text");
	is_str(res.reply, "451 4.7.1 later", "CR removed");
	is_int(run("echo '250 2.1.5 welcome'; exit 0", 10), HOOK_ACCEPT, "accept with text");
	is_str(res.reply, "250 2.1.5 welcome", "a 2xx line kept for an acceptance");
	is_int(run("echo '250 ok'; exit 1", 10), HOOK_REJECT, "a 250 line on exit 1");
	is_str(res.reply, "", "a line of the wrong class is dropped");
	is_int(run("echo '550 ok'; exit 2", 10), HOOK_FAILED, "a line from a failed hook");
	is_str(res.reply, "", "is dropped: failures get the default text");
	is_int(run("printf '550 a\\001b\\n'; exit 1", 10), HOOK_REJECT, "a line with a control byte");
	is_str(res.reply, "", "is dropped");
	is_int(run("echo 'no'; exit 1", 10), HOOK_REJECT, "a line that is no reply");
	is_str(res.reply, "", "is dropped");
	is_int(run("sleep 5", 1), HOOK_FAILED, "a hook that times out fails");
	is_int(res.timed_out, 1, "and says so");
	{
		struct hook_command cmd;
		struct hook_call call;
		memset(&cmd, 0, sizeof(cmd));
		cmd.argv[0] = (char *)"/nonexistent/hook";
		cmd.timeout = 5;
		memset(&call, 0, sizeof(call));
		call.kind = HOOK_RCPT;
		call.cmd = &cmd;
		call.directory = "/";
		call.stdin_fd = -1;
		hook_run(&call, &res);
		is_int(res.verdict, HOOK_FAILED, "a hook that cannot start fails");
	}
}

int
main(void)
{
	test_reply_code();
	test_run();
	return done_testing();
}
