/* SPDX-License-Identifier: ISC */
/*
 * fuzz-policy-answer.c - libFuzzer harness for policy_parse_action
 * (worker/policy_answer.c), the parser of a persistent hook's answer in
 * Postfix's policy protocol ("action=..." lines up to the empty line).
 * The hook is another program: every byte of its answer is hostile.
 * Input: one byte that picks the stage (AUTH has its own codes), then the
 * answer, copied to a buffer of its exact size plus the NUL, so that a
 * read past it is caught.  What the parser gives must hold what the
 * session relies on before it writes the reply to the client: the reply
 * is empty or one line of printable ASCII, NUL-terminated in its buffer,
 * starting with a 4xx code for a temporary failure and 5xx for a
 * rejection; an accepted answer carries no reply; the PREPEND text stays
 * within its buffer and every header it holds ends with LF.
 */
#include "autoconf.h"
#include "worker/hook.h"
#include "worker/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct hook_result *res)
{
	const char *r = res->reply;
	size_t n = strnlen(r, sizeof(res->reply)), i;

	if (n == sizeof(res->reply))
		abort();                        /* not a string */
	for (i = 0; i < n; i++)
		if ((unsigned char)r[i] < 0x20 || (unsigned char)r[i] > 0x7e)
			abort();                /* CR, LF or a control: reply injection */
	if (n == 0)
		return;
	if (n < 4 || r[3] != ' ' || r[1] < '0' || r[1] > '9' || r[2] < '0' || r[2] > '9')
		abort();
	if ((res->verdict == HOOK_TEMPFAIL && r[0] != '4') ||
	    (res->verdict == HOOK_REJECT && r[0] != '5') ||
	    res->verdict == HOOK_ACCEPT || res->verdict == HOOK_FAILED)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_result res;
	enum hook_kind kind;
	char *answer;

	if (size < 1)
		return 0;
	kind = data[0] % 2 ? HOOK_AUTH : HOOK_RCPT;
	answer = malloc(size);
	memcpy(answer, data + 1, size - 1);
	answer[size - 1] = '\0';
	hook_result_init(&res);
	if (policy_parse_action("fuzz", kind, answer, &res) == 0) {
		check_reply(&res);
		if (res.prepend_len > sizeof(res.prepend) ||
		    (res.prepend_len > 0 && res.prepend[res.prepend_len - 1] != '\n'))
			abort();
	} else if (res.verdict != HOOK_FAILED) {
		abort();                        /* no valid action: the result says failed */
	}
	free(answer);
	return 0;
}
