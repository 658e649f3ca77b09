/*
 * command.c - recognise the verb of an SMTP command line.  The line must be
 * printable US-ASCII (RFC 5321 2.4: reject commands with invalid characters);
 * verbs are case-insensitive and end at the first space.
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
	{ "AUTH", CMD_AUTH }, { "BDAT", CMD_BDAT },
};

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
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c > 0x7e) {
			/* a tab is tolerated as a space by many; we do not */
			cmd->verb = CMD_BAD_CHARS;
			return;
		}
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
