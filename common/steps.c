/* SPDX-License-Identifier: ISC */
/*
 * steps.c - the steps of the pipelines (DESIGN.md Part 2, "Named steps and
 * pipelines"): the [hooks] keys (one step per stage, named after it), the
 * [hook.NAME] and [milter.NAME] sections, and an endpoint's `pipeline` list.
 *
 * config.steps holds the [hooks] steps first (in stage order), then every
 * [hook.*] and [milter.*] section in file order: that is also the default
 * pipeline.  An endpoint's `pipeline` list is read in config_pipeline.c.
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"
#include "netaddr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#define HOOK_TIMEOUT_DEFAULT       30
#define HOOK_DATA_TIMEOUT_DEFAULT  300
#define MILTER_CONNECT_TIMEOUT     30
#define MILTER_COMMAND_TIMEOUT     30
#define MILTER_CONTENT_TIMEOUT     300

static const char *const stage_names = "connect helo auth mail rcpt data";

int
is_step_section(const char *section)
{
	return strncmp(section, "hook.", 5) == 0 || strncmp(section, "milter.", 7) == 0;
}

static int
stage_by_name(const char *w)
{
	int k;

	for (k = 0; k < HOOK_COUNT; k++)
		if (strcasecmp(w, hook_name((enum hook_kind)k)) == 0)
			return k;
	return -1;
}

/* inet:ADDRESS:PORT or unix:/path into H->addr.  0, or -1 (error written). */
static int
parse_server(struct loader *ld, const char *section, const char *key, const char *v,
    struct hook_command *h)
{
	char why[256];

	if (strncmp(v, "inet:", 5) == 0) {
		/* the same syntax as listen: 127.0.0.1:10023 or [::1]:10023 */
		if (netaddr_parse_listen(v + 5, &h->addr, &h->addrlen, why, sizeof(why)) < 0)
			return loader_fail(ld, section, key, "inet: %s (a numeric address, no host names)", why);
	} else {
		struct sockaddr_un *su = (struct sockaddr_un *)&h->addr;
		if (v[5] != '/')
			return loader_fail(ld, section, key, "'%s': expected unix:/absolute/path", v);
		if (strlen(v + 5) >= sizeof(su->sun_path))
			return loader_fail(ld, section, key, "'%s': the socket path is too long", v);
		memset(&h->addr, 0, sizeof(h->addr));
		su->sun_family = AF_UNIX;
		strlcpy(su->sun_path, v + 5, sizeof(su->sun_path));
		h->addrlen = sizeof(*su);
	}
	return 0;
}

/* A command line (or inet:/unix: policy server) into H.  0, or -1. */
static int
parse_command(struct loader *ld, const char *section, const char *key, const char *v,
    struct hook_command *h)
{
	char *copy;
	int n;

	if ((h->line = strdup(v)) == NULL)
		return loader_fail(ld, section, key, "out of memory");
	if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "unix:", 5) == 0) {
		/* a policy server that runs already: always persistent */
		h->persistent = h->server = 1;
		h->argv[0] = NULL;
		return parse_server(ld, section, key, v, h);
	}
	if ((copy = strdup(v)) == NULL)
		return loader_fail(ld, section, key, "out of memory");
	n = split_words(copy, h->argv, CONFIG_MAX_WORDS);
	if (n <= 0) {
		free(copy);
		h->argv[0] = NULL;
		return loader_fail(ld, section, key, n == 0 ? "empty command" :
		    "unbalanced quote or more than %d words", CONFIG_MAX_WORDS);
	}
	/* argv[0] owns the copy: the words point into it. */
	if (h->argv[0][0] != '/')
		return loader_fail(ld, section, key, "'%s' is not an absolute path (hooks run without a shell and without PATH search)", h->argv[0]);
	if (access(h->argv[0], X_OK) < 0)
		return loader_fail(ld, section, key, "cannot execute '%s': %s", h->argv[0], strerror(errno));
	return 0;
}

/* [hooks] persistent = "rcpt auth": mark those stages. */
static int
load_persistent(struct loader *ld, struct config *c)
{
	const char *v = loader_get(ld, "hooks", "persistent");
	char *copy, *w[HOOK_COUNT + 1];
	int n, i, k;

	if (v == NULL || *v == '\0')
		return 0;
	if ((copy = strdup(v)) == NULL)
		return loader_fail(ld, "hooks", "persistent", "out of memory");
	n = split_words(copy, w, HOOK_COUNT);
	for (i = 0; i < n; i++) {
		if ((k = stage_by_name(w[i])) < 0 || strcmp(w[i], hook_name((enum hook_kind)k)) != 0) {
			loader_fail(ld, "hooks", "persistent", "'%s' is not a hook name (%s)", w[i], stage_names);
			free(copy);
			return -1;
		}
		c->hooks[k].persistent = 1;
	}
	free(copy);
	if (n < 0)
		return loader_fail(ld, "hooks", "persistent", "too many names");
	return 0;
}

static struct step *
new_step(struct loader *ld, struct config *c, const char *section, const char *name)
{
	struct step *st;
	int i;

	for (i = 0; i < c->nsteps; i++)
		if (strcmp(c->steps[i].name, name) == 0) {
			loader_fail(ld, section, NULL, "a step named '%s' exists already (step names must differ)", name);
			return NULL;
		}
	if (c->nsteps == CONFIG_MAX_STEPS) {
		loader_fail(ld, section, NULL, "too many steps (at most %d)", CONFIG_MAX_STEPS);
		return NULL;
	}
	st = &c->steps[c->nsteps++];
	memset(st, 0, sizeof(*st));
	if (strlcpy(st->name, name, sizeof(st->name)) >= sizeof(st->name)) {
		loader_fail(ld, section, NULL, "the step name is too long (at most %zu characters)", sizeof(st->name) - 1);
		return NULL;
	}
	return st;
}

/* The step of a [PREFIXNAME] section ([hook.NAME], [milter.NAME]: WHAT is
 * "step", "milter"), once its keys are all in KEYS; NULL with the error
 * written. */
static struct step *
new_named_step(struct loader *ld, struct config *c, const char *section, const char *prefix,
    const char *what, const char *const keys[])
{
	const char *name = section + strlen(prefix);

	if (*name == '\0') {
		loader_fail(ld, section, NULL, "a %s needs a name: [%sNAME]", what, prefix);
		return NULL;
	}
	if (loader_check_names(ld, section, keys) < 0)
		return NULL;
	return new_step(ld, c, section, name);
}

/* The [hooks] section: one command per stage, each the step named after
 * its stage. */
int
load_hooks(struct loader *ld, struct config *c)
{
	int timeout = HOOK_TIMEOUT_DEFAULT, data_timeout = HOOK_DATA_TIMEOUT_DEFAULT, k;
	const char *v;

	if (loader_int(ld, "hooks", "timeout", 1, 86400, &timeout) < 0 ||
	    loader_int(ld, "hooks", "data_timeout", 1, 86400, &data_timeout) < 0)
		return -1;
	if ((v = loader_get(ld, "hooks", "auth_protocol")) != NULL && *v != '\0') {
		if (strcasecmp(v, "postern") == 0)
			c->auth_protocol = AUTH_PROTOCOL_POSTERN;
		else if (strcasecmp(v, "checkpassword") == 0)
			c->auth_protocol = AUTH_PROTOCOL_CHECKPASSWORD;
		else
			return loader_fail(ld, "hooks", "auth_protocol", "'%s' is not postern or checkpassword", v);
	}
	if (load_persistent(ld, c) < 0)
		return -1;
	for (k = 0; k < HOOK_COUNT; k++) {
		struct hook_command *h = &c->hooks[k];
		const char *name = hook_name((enum hook_kind)k);
		char tkname[32];

		h->timeout = k == HOOK_DATA ? data_timeout : timeout;
		snprintf(tkname, sizeof(tkname), "%s_timeout", name);
		if (k != HOOK_DATA && loader_int(ld, "hooks", tkname, 1, 86400, &h->timeout) < 0)
			return -1;
		v = loader_get(ld, "hooks", name);
		if (v == NULL || *v == '\0') {
			if (h->persistent)
				return loader_fail(ld, "hooks", "persistent", "'%s' is listed but [hooks] %s is not set",
				    name, name);
			continue;
		}
		if (parse_command(ld, "hooks", name, v, h) < 0)
			return -1;
	}
	if (c->auth_protocol == AUTH_PROTOCOL_CHECKPASSWORD && c->hooks[HOOK_AUTH].persistent)
		return loader_fail(ld, "hooks", "auth_protocol", "checkpassword programs run once per login: do not list auth in persistent");
	for (k = 0; k < HOOK_COUNT; k++) {
		struct step *st;
		if (c->hooks[k].line == NULL)
			continue;
		if ((st = new_step(ld, c, "hooks", hook_name((enum hook_kind)k))) == NULL)
			return -1;
		st->kind = c->hooks[k].persistent ? STEP_POLICY : STEP_EXEC;
		st->stages = STEP_STAGE(k);
		st->cmd = c->hooks[k];          /* shared: hooks[k] owns the strings */
		st->legacy = 1;
	}
	return 0;
}

static int
load_stages(struct loader *ld, const char *section, const char *v, unsigned *stages)
{
	char *copy, *w[HOOK_COUNT * 2 + 1];
	int n, i, k;

	if (v == NULL || *v == '\0')
		return loader_fail(ld, section, "stage", "missing: name one or more of %s", stage_names);
	if ((copy = strdup(v)) == NULL)
		return loader_fail(ld, section, "stage", "out of memory");
	n = split_words(copy, w, HOOK_COUNT * 2);
	if (n <= 0) {
		free(copy);
		return loader_fail(ld, section, "stage", "expected one or more of %s", stage_names);
	}
	*stages = 0;
	for (i = 0; i < n; i++) {
		if ((k = stage_by_name(w[i])) < 0) {
			loader_fail(ld, section, "stage", "'%s' is not a stage (%s)", w[i], stage_names);
			free(copy);
			return -1;
		}
		*stages |= STEP_STAGE(k);
	}
	free(copy);
	return 0;
}

/* attributes = NAME...: the policy attributes a persistent step wants, as
 * " name name " (lower case: Postfix's names and postern_*). */
static int
load_attributes(struct loader *ld, const char *section, const char *v, struct step *st)
{
	size_t o = 0, i;

	st->attributes[o++] = ' ';
	while (*v != '\0') {
		size_t n = strcspn(v, " \t,");
		for (i = 0; i < n; i++)
			if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
				return loader_fail(ld, section, "attributes",
				    "'%.*s' is no attribute name (lower-case letters, digits, _)", (int)n, v);
		if (n > 0) {
			if (o + n + 2 > sizeof(st->attributes))
				return loader_fail(ld, section, "attributes", "too long: name fewer attributes");
			memcpy(st->attributes + o, v, n);
			o += n;
			st->attributes[o++] = ' ';
		}
		v += n + (v[n] != '\0');
	}
	st->attributes[o] = '\0';
	if (o == 1)
		st->attributes[0] = '\0';      /* empty: all */
	return 0;
}

/* [hook.NAME]: stage, command, persistent, timeout, on_error, attributes. */
static int
load_hook_section(struct loader *ld, const char *section, struct config *c)
{
	static const char *const keys[] = { "stage", "command", "persistent", "timeout", "on_error",
		"attributes", NULL };
	struct step *st;
	const char *v;
	int persistent = 0, deftimeout = HOOK_TIMEOUT_DEFAULT;

	if ((st = new_named_step(ld, c, section, "hook.", "step", keys)) == NULL)
		return -1;
	st->kind = STEP_EXEC;
	if (load_stages(ld, section, loader_get(ld, section, "stage"), &st->stages) < 0)
		return -1;
	v = loader_get(ld, section, "command");
	if (v == NULL || *v == '\0')
		return loader_fail(ld, section, "command", "missing: a command line (absolute path) or inet:ADDRESS:PORT or unix:/path");
	if (parse_command(ld, section, "command", v, &st->cmd) < 0 ||
	    loader_bool(ld, section, "persistent", &persistent) < 0)
		return -1;
	if (persistent)
		st->cmd.persistent = 1;
	if (st->cmd.persistent)
		st->kind = STEP_POLICY;
	if (st->stages == STEP_STAGE(HOOK_DATA)) {
		deftimeout = HOOK_DATA_TIMEOUT_DEFAULT;
		if (loader_int(ld, "hooks", "data_timeout", 1, 86400, &deftimeout) < 0)
			return -1;
	} else if (loader_int(ld, "hooks", "timeout", 1, 86400, &deftimeout) < 0) {
		return -1;
	}
	st->cmd.timeout = deftimeout;
	if (loader_int(ld, section, "timeout", 1, 86400, &st->cmd.timeout) < 0)
		return -1;
	if ((v = loader_get(ld, section, "on_error")) != NULL) {
		if (strcasecmp(v, "accept") == 0)
			st->on_error_accept = 1;
		else if (strcasecmp(v, "tempfail") != 0)
			return loader_fail(ld, section, "on_error", "'%s' is not tempfail or accept", v);
	}
	if ((v = loader_get(ld, section, "attributes")) != NULL) {
		if (!st->cmd.persistent)
			return loader_fail(ld, section, "attributes",
			    "only a persistent step gets attributes (an exec step gets its environment)");
		if (load_attributes(ld, section, v, st) < 0)
			return -1;
	}
	return 0;
}

/* [milter.NAME]: socket, default_action and three timeouts.  Its runtime
 * is worker/milter.c; here only the configuration. */
static int
load_milter_section(struct loader *ld, const char *section, struct config *c)
{
	static const char *const keys[] = { "socket", "default_action", "connect_timeout",
		"command_timeout", "content_timeout", NULL };
	struct hook_command probe;
	struct step *st;
	const char *v;

	if ((st = new_named_step(ld, c, section, "milter.", "milter", keys)) == NULL)
		return -1;
	st->kind = STEP_MILTER;
	st->stages = STEP_STAGE(HOOK_CONNECT) | STEP_STAGE(HOOK_HELO) | STEP_STAGE(HOOK_MAIL) |
	    STEP_STAGE(HOOK_RCPT) | STEP_STAGE(HOOK_DATA);
	st->milter.default_action = MILTER_TEMPFAIL;
	st->milter.connect_timeout = MILTER_CONNECT_TIMEOUT;
	st->milter.command_timeout = MILTER_COMMAND_TIMEOUT;
	st->milter.content_timeout = MILTER_CONTENT_TIMEOUT;
	v = loader_get(ld, section, "socket");
	if (v == NULL || (strncmp(v, "inet:", 5) != 0 && strncmp(v, "unix:", 5) != 0))
		return loader_fail(ld, section, "socket", "expected inet:ADDRESS:PORT or unix:/path");
	memset(&probe, 0, sizeof(probe));
	if (parse_server(ld, section, "socket", v, &probe) < 0)
		return -1;
	if ((st->milter.socket = strdup(v)) == NULL)
		return loader_fail(ld, section, "socket", "out of memory");
	if ((v = loader_get(ld, section, "default_action")) != NULL) {
		if (strcasecmp(v, "tempfail") == 0)
			st->milter.default_action = MILTER_TEMPFAIL;
		else if (strcasecmp(v, "accept") == 0)
			st->milter.default_action = MILTER_ACCEPT;
		else if (strcasecmp(v, "reject") == 0)
			st->milter.default_action = MILTER_REJECT;
		else
			return loader_fail(ld, section, "default_action", "'%s' is not tempfail, accept or reject", v);
	}
	if (loader_int(ld, section, "connect_timeout", 1, 86400, &st->milter.connect_timeout) < 0 ||
	    loader_int(ld, section, "command_timeout", 1, 86400, &st->milter.command_timeout) < 0 ||
	    loader_int(ld, section, "content_timeout", 1, 86400, &st->milter.content_timeout) < 0)
		return -1;
	return 0;
}

int
load_named_steps(struct loader *ld, struct config *c)
{
	int nsec = iniparser_getnsec(ld->ini), i;

	for (i = 0; i < nsec; i++) {
		const char *s = iniparser_getsecname(ld->ini, i);
		if (strncmp(s, "hook.", 5) == 0 && load_hook_section(ld, s, c) < 0)
			return -1;
		if (strncmp(s, "milter.", 7) == 0 && load_milter_section(ld, s, c) < 0)
			return -1;
	}
	return 0;
}

void
steps_free(struct config *c)
{
	int i;

	for (i = 0; i < c->nsteps; i++) {
		struct step *st = &c->steps[i];
		if (st->legacy)
			continue;
		free(st->cmd.line);
		free(st->cmd.argv[0]);
		free(st->milter.socket);
	}
	c->nsteps = 0;
}
