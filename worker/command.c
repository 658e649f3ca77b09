/* SPDX-License-Identifier: ISC */
/*
 * command.c - recognise the verb of an SMTP command line.  The line must be
 * printable US-ASCII (RFC 5321 2.4: reject commands with invalid characters),
 * but for bytes above 127, which are flagged as UTF-8 or not for the caller
 * (only MAIL and RCPT may carry UTF-8, with SMTPUTF8: RFC 6531); verbs are
 * case-insensitive and end at the first space.
 */
#include "autoconf.h"
#include "command.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "EHLO", CMD_EHLO }, { "HELO", CMD_HELO }, { "MAIL", CMD_MAIL },
	{ "RCPT", CMD_RCPT }, { "DATA", CMD_DATA }, { "RSET", CMD_RSET },
	{ "NOOP", CMD_NOOP }, { "QUIT", CMD_QUIT }, { "VRFY", CMD_VRFY },
	{ "EXPN", CMD_EXPN }, { "HELP", CMD_HELP }, { "STARTTLS", CMD_STARTTLS },
	{ "AUTH", CMD_AUTH }, { "BDAT", CMD_BDAT }, { "LHLO", CMD_LHLO },
};

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p;
		size_t n;
		unsigned cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
		else return 0;
		if ((size_t)(end - p) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

void
command_parse(const char *line, size_t len, struct smtp_command *cmd)
{
	size_t i, vlen;

	cmd->verb = CMD_UNKNOWN;
	cmd->name = "";
	cmd->arg = "";
	if (len == 0) {
		cmd->verb = CMD_EMPTY;
		return;
	}
	cmd->utf8 = cmd->bad_utf8 = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f) {
			/* a tab is tolerated as a space by many; we do not */
			cmd->verb = CMD_BAD_CHARS;
			return;
		}
		if (c > 0x7f)
			cmd->utf8 = 1;
	}
	if (cmd->utf8 && !utf8_valid(line, len)) {
		cmd->utf8 = 0;
		cmd->bad_utf8 = 1;
	}
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen && strncasecmp(line, verbs[i].name, vlen) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			break;
		}
	}
	if (vlen < len)
		cmd->arg = line + vlen + 1;
}
