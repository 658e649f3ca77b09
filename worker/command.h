/* SPDX-License-Identifier: ISC */
/*
 * command.h - an SMTP command line split into its verb and argument
 * (RFC 5321 4.1.1).
 */
#ifndef POSTERN_COMMAND_H
#define POSTERN_COMMAND_H

#include <stddef.h>

enum smtp_verb {
	CMD_UNKNOWN = 0, CMD_EHLO, CMD_HELO, CMD_MAIL, CMD_RCPT, CMD_DATA,
	CMD_RSET, CMD_NOOP, CMD_QUIT, CMD_VRFY, CMD_EXPN, CMD_HELP,
	CMD_STARTTLS, CMD_AUTH, CMD_BDAT,
	CMD_LHLO,               /* RFC 2033: LMTP endpoints only */
	CMD_BAD_CHARS,          /* NUL, bare CR, control or 8-bit bytes */
	CMD_EMPTY,              /* an empty line */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *name;       /* the verb as recognised, upper case */
	const char *arg;        /* after the verb and one space; "" if none */
	int utf8;               /* bytes above 127 that are well-formed UTF-8 */
	int bad_utf8;           /* bytes above 127 that are not */
};

/* Is P (LEN bytes) well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF)? */
int utf8_valid(const char *p, size_t len);

/*
 * Parse LINE (LEN bytes, no line end; may contain NUL bytes) into CMD.
 * ARG points into LINE.  "MAIL FROM:" and "RCPT TO:" keep their FROM:/TO: in
 * the argument.  Control characters (NUL, CR, tab ...) make CMD_BAD_CHARS;
 * 8-bit bytes are flagged (utf8 or bad_utf8) for the caller to judge: only
 * MAIL and RCPT may carry them, with SMTPUTF8 (RFC 6531).
 */
void command_parse(const char *line, size_t len, struct smtp_command *cmd);

#endif
