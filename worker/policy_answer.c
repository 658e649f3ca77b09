/* SPDX-License-Identifier: ISC */
/*
 * policy_answer.c - the answer of a policy server (Postfix's policy
 * delegation protocol): the action= line turned into a verdict, a reply
 * and headers to prepend.  No I/O: policy.c reads the answer.
 */
#include "autoconf.h"
#include "policy.h"
#include "hook.h"
#include "../common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ACTION_MAX      4096    /* one action= line */

/* The reply for a REJECT/DEFER text: the text's own enhanced status code if
 * it starts with one of the right class ("5.1.1 no such user"), as Postfix
 * does, else DFLT in front. */
static void
policy_reply(char *out, size_t outlen, const char *code, const char *dflt, const char *text)
{
	int has = text[0] == code[0] && text[1] == '.' && text[2] >= '0' && text[2] <= '9' &&
	    strchr(text, ' ') != NULL && strspn(text + 2, "0123456789.") == (size_t)(strchr(text, ' ') - text - 2);

	if (has)
		snprintf(out, outlen, "%s %.480s", code, text);
	else
		snprintf(out, outlen, "%s %s %.470s", code, dflt, text);
}

/* OK and DUNNO accept; so do PREPEND (the header is kept for the message),
 * WARN and INFO (the text is logged), as in Postfix.  1 if ACTION is one. */
static int
accepting(const char *name, const char *action, size_t alen, const char *text,
    struct hook_result *res)
{
	if ((alen == 2 && strncasecmp(action, "OK", 2) == 0) ||
	    (alen == 5 && strncasecmp(action, "DUNNO", 5) == 0)) {
		res->verdict = HOOK_ACCEPT;
		return 1;
	}
	if (alen == 7 && strncasecmp(action, "PREPEND", 7) == 0) {
		res->verdict = HOOK_ACCEPT;
		hook_result_prepend(res, text, strlen(text));
		return 1;
	}
	if (alen == 4 && (strncasecmp(action, "WARN", 4) == 0 || strncasecmp(action, "INFO", 4) == 0)) {
		res->verdict = HOOK_ACCEPT;
		if (toupper((unsigned char)action[0]) == 'W')
			log_warn("hook %s: WARN %.256s", name, text);
		else
			log_info("hook %s: INFO %.256s", name, text);
		return 1;
	}
	return 0;
}

/* "action=..." to a verdict and, when the action carries text, a reply. */
int
policy_parse_action(const char *name, enum hook_kind kind, const char *answer, struct hook_result *res)
{
	const char *p = answer, *text;
	char action[ACTION_MAX];
	size_t alen;
	int code;

	action[0] = '\0';
	while (*p != '\0' && *p != '\n') {
		const char *eol = strchr(p, '\n');
		size_t l = eol != NULL ? (size_t)(eol - p) : strlen(p);
		if (l > 7 && strncasecmp(p, "action=", 7) == 0) {
			if (l - 7 >= sizeof(action))
				return -1;      /* longer than any action we take */
			memcpy(action, p + 7, l - 7);
			action[l - 7] = '\0';
		}
		p += l + (eol != NULL);
	}
	if (action[0] == '\0')
		return -1;
	for (alen = 0; action[alen] != '\0'; alen++)
		if ((unsigned char)action[alen] < 0x20 || (unsigned char)action[alen] > 0x7e)
			return -1;
	alen = strcspn(action, " \t");
	text = action + alen;
	while (*text == ' ' || *text == '\t')
		text++;
	res->reply[0] = '\0';
	res->exit_status = 0;
	if (accepting(name, action, alen, text, res))
		return 0;
	if (alen == 6 && strncasecmp(action, "REJECT", 6) == 0) {
		res->verdict = HOOK_REJECT;
		res->exit_status = 1;
		if (*text != '\0')
			policy_reply(res->reply, sizeof(res->reply), kind == HOOK_AUTH ? "535" : "550",
			    kind == HOOK_AUTH ? "5.7.8" : "5.7.1", text);
		return 0;
	}
	if ((alen == 5 && strncasecmp(action, "DEFER", 5) == 0) ||
	    (alen == 15 && strncasecmp(action, "DEFER_IF_PERMIT", 15) == 0) ||
	    (alen == 15 && strncasecmp(action, "DEFER_IF_REJECT", 15) == 0)) {
		res->verdict = HOOK_TEMPFAIL;
		res->exit_status = 75;
		policy_reply(res->reply, sizeof(res->reply), kind == HOOK_AUTH ? "454" : "450",
		    kind == HOOK_AUTH ? "4.7.0" : "4.7.1", *text != '\0' ? text : "Error: try again later");
		return 0;
	}
	if (alen == 3 && action[0] >= '4' && action[0] <= '5' && (code = hook_reply_code(action)) != 0) {
		const char *t = text;
		int enhanced = t[0] == action[0] && t[1] == '.';
		res->verdict = action[0] == '4' ? HOOK_TEMPFAIL : HOOK_REJECT;
		res->exit_status = action[0] == '4' ? 75 : 1;
		if (enhanced)
			snprintf(res->reply, sizeof(res->reply), "%d %.480s", code, t);
		else
			snprintf(res->reply, sizeof(res->reply), "%d %c.7.1 %.470s", code, action[0],
			    *t != '\0' ? t : "Error: rejected by policy");
		return 0;
	}
	/* HOLD, DISCARD, FILTER, REDIRECT, BCC ...: not a decision we can act on */
	log_warn("hook %s: action '%.240s' is not supported by Postern: taken as DUNNO",
	    name, log_esc(action));
	res->verdict = HOOK_ACCEPT;
	return 0;
}
