/* SPDX-License-Identifier: ISC */
/*
 * fuzz-command.c - libFuzzer harness for the command-line parser
 * (worker/command.c): any bytes, then the invariants every caller relies on.
 */
#include "autoconf.h"
#include "worker/command.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct smtp_command c;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	command_parse(line, size, &c);
	if (c.verb != CMD_BAD_CHARS && c.verb != CMD_EMPTY) {
		/* the argument is empty or lies inside the line */
		if (*c.arg != '\0' && (c.arg < line || c.arg > line + size))
			abort();
		if (c.bad_utf8 && c.utf8)
			abort();
		if (c.utf8 && !utf8_valid(line, size))
			abort();
	}
	free(line);
	return 0;
}
