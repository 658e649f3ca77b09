/* SPDX-License-Identifier: ISC */
/*
 * config_load.c - read postern.conf with iniparser and check every key.
 *
 * Reserved sections are server, limits, tls and hooks; every other section is
 * an endpoint.  Each section has a table of the keys it knows; a key that is
 * not in the table, a value that does not parse or is out of range, and a
 * combination that cannot work (a TLS endpoint without a certificate, no data
 * hook) are errors that name the file, the section, the key and the reason.
 * This file holds the defaults, the order in which sections are read and
 * the checks across sections.
 */
#include "autoconf.h"
#include "config.h"
#include "config_load.h"
#include "config_loader.h"
#include "resolver.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <iniparser.h>

static void
set_defaults(struct config *c)
{
	if (gethostname(c->hostname, sizeof(c->hostname)) < 0 || c->hostname[0] == '\0')
		strlcpy(c->hostname, "localhost", sizeof(c->hostname));
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	strlcpy(c->banner, "ESMTP Postern", sizeof(c->banner));
	strlcpy(c->user, "postern", sizeof(c->user));
	c->group[0] = '\0';     /* default: the user's primary group */
	strlcpy(c->pidfile, "/run/posternd.pid", sizeof(c->pidfile));
	strlcpy(c->spool_directory, "/var/tmp", sizeof(c->spool_directory));
	c->workers = 4;
	c->min_spare = 2;
	c->max_spare = 8;
	c->max_workers = 256;
	c->max_sessions = 1000;
	c->shutdown_grace = 30;
	c->reverse_lookup = 1;
	c->dns_timeout = 5;
	c->limits.max_message_size = 26214400;
	c->limits.max_recipients = 100;
	c->limits.max_errors = 10;
	c->limits.max_auth_attempts = 3;
	c->limits.max_connections_per_client = 20;
	c->limits.command_timeout = 300;
	c->limits.data_timeout = 600;
	c->limits.max_junk_commands = 100;
	{
		char why[128];
		parse_cidr_list("127.0.0.0/8 ::1/128", c->limits.limit_exempt, CONFIG_MAX_EXEMPT,
		    &c->limits.nlimit_exempt, why, sizeof(why));
	}
	strlcpy(c->tls_priority, TLS_PRIORITY_DEFAULT, sizeof(c->tls_priority));
	strlcpy(c->hook_directory, "/", sizeof(c->hook_directory));
}

static char loader_file[1024];
static char *loader_err;
static size_t loader_errlen;

/* iniparser reports syntax errors (with line numbers) through this. */
static int
syntax_error(const char *fmt, ...)
{
	char msg[512], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (p = msg; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	if (loader_err != NULL && loader_err[0] == '\0')
		snprintf(loader_err, loader_errlen, "%s: %s", loader_file, msg);
	return 0;
}

/* The reserved sections, then every endpoint section. */
static int
load_sections(struct loader *ld, struct config *c)
{
	int nsec, i;

	/* Reserved sections first: endpoints inherit [limits]. */
	if (check_known_keys(ld, "server", server_keys, NULL) < 0 ||
	    load_table(ld, "server", server_keys, c) < 0 ||
	    check_known_keys(ld, "limits", limits_keys, NULL) < 0 ||
	    load_table(ld, "limits", limits_keys, &c->limits) < 0 ||
	    load_exempt(ld, "limits", &c->limits) < 0 ||
	    check_known_keys(ld, "tls", tls_keys, NULL) < 0 ||
	    load_table(ld, "tls", tls_keys, c) < 0 ||
	    check_known_keys(ld, "hooks", hooks_keys, NULL) < 0 ||
	    load_table(ld, "hooks", hooks_keys, c) < 0 ||
	    load_hooks(ld, c) < 0 ||
	    load_named_steps(ld, c) < 0 ||
	    load_metrics(ld, c) < 0)
		return -1;
	nsec = iniparser_getnsec(ld->ini);
	for (i = 0; i < nsec; i++) {
		const char *s = iniparser_getsecname(ld->ini, i);
		if (!strcmp(s, "server") || !strcmp(s, "limits") || !strcmp(s, "tls") || !strcmp(s, "hooks") ||
		    !strcmp(s, "metrics") || is_step_section(s))
			continue;
		if (load_endpoint(ld, s, c) < 0)
			return -1;
	}
	return 0;
}

/* The checks across keys and sections of the reserved sections. */
static int
check_server(struct loader *ld, struct config *c)
{
	char why[256];
	int i;

	if (c->min_spare > c->max_spare)
		return loader_fail(ld, "server", "min_spare", "%d is larger than max_spare (%d)", c->min_spare, c->max_spare);
	if (c->workers > c->max_workers)
		return loader_fail(ld, "server", "workers", "%d is larger than max_workers (%d)", c->workers, c->max_workers);
	for (i = 0; c->banner[i] != '\0'; i++) {
		if ((unsigned char)c->banner[i] < 0x20 || (unsigned char)c->banner[i] > 0x7e)
			return loader_fail(ld, "server", "banner", "only printable ASCII is allowed in the greeting");
	}
	if (c->hostname[0] == '\0' || strpbrk(c->hostname, " \t\r\n") != NULL)
		return loader_fail(ld, "server", "hostname", "must be a domain name without spaces");
	if (c->authserv_id[0] == '\0')
		strlcpy(c->authserv_id, c->hostname, sizeof(c->authserv_id));
	else if (strpbrk(c->authserv_id, " \t\r\n;()\"") != NULL)
		return loader_fail(ld, "server", "authserv_id", "must be one word without ; ( ) or quotes (RFC 8601), e.g. the host name");
	if (c->hook_directory[0] != '/')
		return loader_fail(ld, "hooks", "directory", "'%s' is not an absolute path", c->hook_directory);
	{
		struct stat st;
		if (stat(c->hook_directory, &st) < 0 || !S_ISDIR(st.st_mode))
			return loader_fail(ld, "hooks", "directory", "'%s' is not a directory", c->hook_directory);
	}
	if (c->resolver[0] != '\0' &&
	    resolver_parse(c->resolver, &c->resolver_addr, why, sizeof(why)) < 0)
		return loader_fail(ld, "server", "resolver", "%s", why);
	if (c->spool_directory[0] != '/')
		return loader_fail(ld, "server", "spool_directory", "'%s' is not an absolute path", c->spool_directory);
	return 0;
}

struct config *
config_load(const char *file, char *err, size_t errlen)
{
	struct loader ld = { NULL, file, err, errlen };
	struct config *c;
	FILE *probe;
	int i;

	err[0] = '\0';
	if ((probe = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return NULL;
	}
	fclose(probe);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(file)) == NULL) {
		free(c);
		snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	set_defaults(c);
	strlcpy(loader_file, file, sizeof(loader_file));
	loader_err = err;
	loader_errlen = errlen;
	iniparser_set_error_callback(syntax_error);
	ld.ini = iniparser_load(file);
	iniparser_set_error_callback(NULL);
	loader_err = NULL;
	if (ld.ini == NULL || err[0] != '\0') {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: cannot parse", file);
		goto bad;
	}
	/* iniparser files keys that come before the first section as ":key". */
	for (i = 0; i < ld.ini->size; i++) {
		if (ld.ini->key[i] != NULL && ld.ini->key[i][0] == ':') {
			loader_fail(&ld, NULL, NULL, "'%s' is outside any section: put it under [server], [limits], [tls], [hooks] or an endpoint",
			    ld.ini->key[i] + 1);
			goto bad;
		}
	}
	if (load_sections(&ld, c) < 0)
		goto bad;
	if (c->nendpoints == 0) {
		loader_fail(&ld, NULL, NULL, "no endpoint: add a section such as [smtp] with listen = 0.0.0.0:25");
		goto bad;
	}
	if (check_server(&ld, c) < 0)
		goto bad;
	iniparser_freedict(ld.ini);
	return c;
bad:
	if (ld.ini != NULL)
		iniparser_freedict(ld.ini);
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	int i, j;

	if (c == NULL)
		return;
	for (i = 0; i < HOOK_COUNT; i++) {
		free(c->hooks[i].line);
		free(c->hooks[i].argv[0]);
	}
	steps_free(c);
	for (i = 0; i < c->nendpoints; i++)
		for (j = 0; j < c->endpoints[i].nlisten; j++)
			free(c->endpoints[i].listen[j]);
	free(c->path);
	free(c);
}

