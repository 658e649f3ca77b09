/* SPDX-License-Identifier: ISC */
/*
 * rcpt_answers.h - per-recipient answers of the data steps (DESIGN.md
 * "Gateway details"): an exec step's "RCPT ADDRESS NNN text" lines, a policy
 * step's "rcpt_action=ADDRESS NNN text" attributes, merged over the data
 * steps of one message into one final reply per recipient.  An LMTP
 * endpoint sends each (lmtp.c); an SMTP endpoint gets them collapsed into
 * one reply (rcpt_table_collapse).
 */
#ifndef POSTERN_RCPT_ANSWERS_H
#define POSTERN_RCPT_ANSWERS_H

#include <stddef.h>
#include "rcpt_sink.h"

struct session;
struct hook_result;

#define RCPT_REPLY_MAX  512     /* one reply line, as hook_result.reply */

enum rcpt_answer_error {
	RA_OK,
	RA_NO_RCPT,             /* ADDRESS is not one of the recipients */
	RA_BAD_CODE,            /* no 2xx, 4xx or 5xx code after the address */
	RA_BAD_TEXT,            /* control or 8-bit bytes in the text */
};

struct rcpt_answer {
	int index;              /* the recipient's place in RCPT order */
	int code;
	char reply[RCPT_REPLY_MAX];     /* "NNN X.Y.Z text", with a default enhanced code */
};

/*
 * Parse one answer "ADDRESS NNN [X.Y.Z] text" (LEN octets, no line end)
 * against RCPTS, the accepted recipients ("a@b\n" each, RCPTS_LEN octets).
 * ADDRESS may be written bare or in <>; the longest recipient that matches
 * wins (a quoted local part may hold spaces).  Pure: no I/O.
 */
enum rcpt_answer_error rcpt_answer_parse(const char *line, size_t len, const char *rcpts,
    size_t rcpts_len, struct rcpt_answer *out);

/* The final answers of the message being delivered: start with every
 * recipient (a copy of the session's list) open, no refusal yet. */
int rcpt_table_begin(const struct session *);
/*
 * Merge the answer of data step NAME (RES, after on_error was applied):
 * each open recipient takes its own line, else the step's overall answer;
 * the first refusal a recipient gets is final.  *TOOK is set when the step
 * accepted the message for at least one recipient.  Returns how many
 * recipients are still open.
 */
int rcpt_table_step(const struct session *, const char *name, const struct hook_result *res,
    int *took);
/* Every open recipient takes RES's refusal (a local error, no step took it). */
void rcpt_table_refuse_open(const struct session *, const struct hook_result *res);
/* The open recipients without a 2xx text of their own take REPLY (the
 * accepting steps' reply line), if it is a 2xx. */
void rcpt_table_accept_open(const char *reply);
/* How many recipients were refused so far. */
int rcpt_table_refused(void);
/*
 * One reply for an SMTP endpoint, into RES: all accepted -> 1 (RES left
 * alone); all refused -> 0 with the first temporary refusal, else the first
 * permanent one; a mix -> 0 with 451 4.3.0 (never 250 for a message some
 * recipients did not get).
 */
int rcpt_table_collapse(struct hook_result *res);
/* The final reply of recipient I, or NULL when it was accepted (then
 * *ACCEPT_TEXT is its own 2xx reply, or NULL for the message's). */
const char *rcpt_table_reply(int i, const char **accept_text);
void rcpt_table_end(void);
/* The recipients of the table ("a@b\n" each, as at the start of the data
 * stage, whatever a milter's edits did since) and their number in *N; NULL
 * when no table is active. */
const char *rcpt_table_rcpts(int *n);
/* 1 between rcpt_table_begin and rcpt_table_end. */
int rcpt_table_active(void);

#endif
