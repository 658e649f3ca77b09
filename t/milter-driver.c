/* SPDX-License-Identifier: ISC */
/*
 * milter-driver.c - drives the milter client (worker/milter.c) from a
 * script on stdin, for t/milter-python.py and the real-milter tests; prints
 * every result, every edit, and the message and envelope after the edits.
 *
 * Script lines (words separated by one space):
 *   open SOCKET DEFAULT_ACTION CONNECT_TIMEOUT COMMAND_TIMEOUT CONTENT_TIMEOUT
 *   set MACRO VALUE...        macro value for the events that follow
 *   connect HOSTNAME FAMILY(4|6|L|U) PORT ADDRESS
 *   helo NAME | mail <ADDR> [ARG...] | rcpt <ADDR> [ARG...] | data
 *   unknown LINE... | abort | close
 *   message                   then the message, LF line ends made CR LF,
 *                             up to a line "."; "@repeat N TEXT" inside
 *                             stands for N lines of TEXT
 * Output lines:
 *   EVENT pass|reject|tempfail|discard [failed] [REPLY]
 *   session-reply REPLY       (when set)
 *   quarantine REASON, sender ADDR ARGS, rcpt ADDR ARGS,
 *   message LEN, then the message with each line as "| LINE"
 */
#include "autoconf.h"
#include "worker/milter.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct milter m;
static struct milter_macros mm;
static struct milter_envelope env;
static char *values[64];
static int nvalues;

static const char *const verdicts[] = { "pass", "reject", "tempfail", "discard" };

static void
show(const char *event, const struct milter_result *res)
{
	printf("%s %s%s%s%s\n", event, verdicts[res->verdict], res->failed ? " failed" : "",
	    res->reply[0] ? " " : "", res->reply);
	if (milter_session_reply(&m)[0])
		printf("session-reply %s\n", milter_session_reply(&m));
	fflush(stdout);
}

/* Split LINE into at most MAX words at single spaces. */
static int
words(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL, *p;

	for (p = strtok_r(line, " ", &save); p != NULL && n < max; p = strtok_r(NULL, " ", &save))
		w[n++] = p;
	return n;
}

static char *
read_message(size_t *len)
{
	char line[4096];
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL && fgets(line, sizeof(line), stdin) != NULL) {
		size_t l = strcspn(line, "\n"), reps = 1, r;
		char *text = line;
		line[l] = '\0';
		if (strcmp(line, ".") == 0)
			break;
		if (strncmp(line, "@repeat ", 8) == 0) {
			reps = strtoul(line + 8, &text, 10);
			text += *text == ' ';
			l = strlen(text);
		}
		for (r = 0; r < reps; r++) {
			while (n + l + 2 > cap && buf != NULL)
				buf = realloc(buf, cap *= 2);
			if (buf == NULL)
				break;
			memcpy(buf + n, text, l);
			n += l;
			buf[n++] = '\r';
			buf[n++] = '\n';
		}
	}
	*len = n;
	return buf;
}

static void
message(void)
{
	struct milter_edits ed;
	struct milter_result res;
	size_t len, i, outlen;
	char *msg = read_message(&len), *out;

	memset(&ed, 0, sizeof(ed));
	milter_message(&m, &mm, msg, len, &ed, &res);
	show("message", &res);
	if (ed.quarantine[0])
		printf("quarantine %s\n", ed.quarantine);
	for (i = 0; i < ed.n; i++)
		printf("edit %d %u %s\n", (int)ed.v[i].kind, (unsigned)ed.v[i].index,
		    ed.v[i].kind == MILTER_REPLBODY ? "(body)" : ed.v[i].name);
	if (milter_edits_apply(&ed, msg, len, &env, &out, &outlen) == 0) {
		char *p = out, *e;
		printf("message %zu\n", outlen);
		while (p < out + outlen) {
			e = memchr(p, '\n', (size_t)(out + outlen - p));
			if (e == NULL)
				e = out + outlen;
			printf("| %.*s\n", (int)(e - p - (e > p && e[-1] == '\r')), p);
			p = e + 1;
		}
		free(out);
	}
	printf("sender %s %s\n", env.sender ? env.sender : "", env.sender_args ? env.sender_args : "");
	for (i = 0; i < env.nrcpts; i++)
		printf("rcpt %s %s\n", env.rcpts[i].addr, env.rcpts[i].args);
	fflush(stdout);
	milter_edits_free(&ed);
	free(msg);
}

/* MAIL or RCPT: the event, and the envelope kept for the edits. */
static void
envelope(int mail, char **w, int n)
{
	struct milter_result res;
	char addr[512], args[1024] = "";
	size_t al = strlen(w[1]);
	int i;

	if (mail)
		milter_mail(&m, &mm, (const char *const *)w + 1, (size_t)n - 1, &res);
	else
		milter_rcpt(&m, &mm, (const char *const *)w + 1, (size_t)n - 1, &res);
	show(mail ? "mail" : "rcpt", &res);
	snprintf(addr, sizeof(addr), "%.*s", (int)(al >= 2 ? al - 2 : 0), w[1] + 1);
	for (i = 2; i < n; i++)
		snprintf(args + strlen(args), sizeof(args) - strlen(args), "%s%s", i > 2 ? " " : "", w[i]);
	if (res.verdict != MILTER_V_PASS)
		return;
	if (mail) {
		milter_envelope_free(&env);
		milter_envelope_set_sender(&env, addr, args);
	} else {
		milter_envelope_add_rcpt(&env, addr, args);
	}
}

static void
command(char *line)
{
	char *w[64], *rest;
	struct milter_result res;
	int n;

	if ((rest = strchr(line, ' ')) != NULL)
		rest++;
	if (strncmp(line, "set ", 4) == 0 && rest != NULL && (rest = strchr(rest, ' ')) != NULL) {
		const char **slot;
		*rest++ = '\0';
		if ((slot = milter_macro_slot(&mm, line + 4)) != NULL && nvalues < 64)
			*slot = values[nvalues++] = strdup(rest);
		return;
	}
	if (strncmp(line, "unknown ", 8) == 0) {
		milter_unknown(&m, &mm, line + 8, &res);
		show("unknown", &res);
		return;
	}
	if ((n = words(line, w, 64)) == 0)
		return;
	if (strcmp(w[0], "open") == 0 && n == 6) {
		static char sock[1024];
		struct milter_settings set = { "test", sock, MILTER_DEFAULT_TEMPFAIL,
			atoi(w[3]), atoi(w[4]), atoi(w[5]) };
		milter_close(&m);
		strlcpy(sock, w[1], sizeof(sock));
		set.default_action = strcmp(w[2], "accept") == 0 ? MILTER_DEFAULT_ACCEPT :
		    strcmp(w[2], "reject") == 0 ? MILTER_DEFAULT_REJECT : MILTER_DEFAULT_TEMPFAIL;
		milter_init(&m, &set);
	} else if (strcmp(w[0], "connect") == 0 && n == 5) {
		milter_connect(&m, &mm, w[1], w[2][0], (unsigned)atoi(w[3]), w[4], &res);
		show("connect", &res);
		printf("negotiated version %u actions 0x%x pflags 0x%x\n", (unsigned)m.neg.version,
		    (unsigned)m.neg.actions, (unsigned)m.neg.pflags);
	} else if (strcmp(w[0], "helo") == 0 && n == 2) {
		milter_helo(&m, &mm, w[1], &res);
		show("helo", &res);
	} else if ((strcmp(w[0], "mail") == 0 || strcmp(w[0], "rcpt") == 0) && n >= 2) {
		envelope(w[0][0] == 'm', w, n);
	} else if (strcmp(w[0], "data") == 0) {
		milter_data(&m, &mm, &res);
		show("data", &res);
	} else if (strcmp(w[0], "message") == 0) {
		message();
	} else if (strcmp(w[0], "abort") == 0) {
		milter_abort(&m);
		printf("abort\n");
	} else if (strcmp(w[0], "close") == 0) {
		milter_close(&m);
		printf("close\n");
	} else {
		printf("driver: bad script line '%s'\n", w[0]);
	}
	fflush(stdout);
}

int
main(void)
{
	char line[4096];
	int i;

	log_open("milter-driver", 1, 1);
	milter_init(&m, &(struct milter_settings){ "test", "unix:/nonexistent",
	    MILTER_DEFAULT_TEMPFAIL, 5, 5, 5 });
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0' && line[0] != '#')
			command(line);
	}
	milter_close(&m);
	milter_envelope_free(&env);
	for (i = 0; i < nvalues; i++)
		free(values[i]);
	return 0;
}
