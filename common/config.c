/* SPDX-License-Identifier: ISC */
/*
 * config.c - names and word splitting shared by the configuration loader
 * and the programs that run hooks.  The loader itself: config_load.c (the
 * whole file and its cross-checks), config_keys.c (the key tables),
 * config_loader.c (reading a section through its table), config_endpoint.c
 * (endpoint sections), steps.c (hooks and milters).
 */
#include "autoconf.h"
#include "config.h"

#include <stddef.h>

static const char *const hook_names[HOOK_COUNT] = {
	"connect", "helo", "auth", "mail", "rcpt", "data"
};

const char *
hook_name(enum hook_kind k)
{
	return (unsigned)k < HOOK_COUNT ? hook_names[k] : "?";
}

int
split_words(char *line, char **words, int max)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		char quote = 0;

		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			break;
		if (n == max)
			return -1;
		words[n++] = w;
		while (*r != '\0' && (quote || (*r != ' ' && *r != '\t'))) {
			if (quote && *r == quote) {
				quote = 0;
				r++;
			} else if (!quote && (*r == '"' || *r == '\'')) {
				quote = *r++;
			} else if (*r == '\\' && quote != '\'' && r[1] != '\0') {
				r++;
				*w++ = *r++;
			} else {
				*w++ = *r++;
			}
		}
		if (quote)
			return -1;
		if (*r != '\0')
			r++;
		*w++ = '\0';
	}
	words[n] = NULL;
	return n;
}
