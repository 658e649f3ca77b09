/* SPDX-License-Identifier: ISC */
/*
 * config_loader.c - reading one section of postern.conf through its key
 * table: error reporting with file, section, key and reason, value parsers
 * (numbers with size suffixes, booleans, the enumerated keys), unknown-key
 * checks.
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"

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

int
loader_fail(struct loader *ld, const char *section, const char *key, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (key != NULL)
		snprintf(ld->err, ld->errlen, "%s: [%s] %s: %s", ld->file, section, key, reason);
	else if (section != NULL)
		snprintf(ld->err, ld->errlen, "%s: [%s]: %s", ld->file, section, reason);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->file, reason);
	return -1;
}

const char *
loader_get(struct loader *ld, const char *section, const char *key)
{
	char full[256];

	snprintf(full, sizeof(full), "%s:%s", section, key);
	return iniparser_getstring(ld->ini, full, NULL);
}

static int
parse_number(const char *v, long long *out, int allow_suffix)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == ERANGE)
		return -1;
	if (allow_suffix && *end != '\0' && end[1] == '\0') {
		long long mul;
		switch (*end) {
		case 'k': case 'K': mul = 1024LL; break;
		case 'm': case 'M': mul = 1024LL * 1024; break;
		case 'g': case 'G': mul = 1024LL * 1024 * 1024; break;
		default: return -1;
		}
		if (n > LLONG_MAX / mul)
			return -1;
		n *= mul;
		end++;
	}
	if (*end != '\0')
		return -1;
	*out = n;
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* The values of the enumerated keys (case does not matter). */
struct choice {
	const char *name;
	int value;
};
static const struct choice tls_choices[] = {
	{ "none", TLS_NONE }, { "starttls", TLS_STARTTLS }, { "implicit", TLS_IMPLICIT }, { NULL, 0 }
};
static const struct choice newline_choices[] = {
	{ "normalize", BARE_NEWLINE_NORMALIZE }, { "reject", BARE_NEWLINE_REJECT }, { NULL, 0 }
};
static const struct choice auth_choices[] = {
	{ "none", AUTH_NONE }, { "optional", AUTH_OPTIONAL }, { "required", AUTH_REQUIRED }, { NULL, 0 }
};
static const struct choice proto_choices[] = {
	{ "smtp", PROTO_SMTP }, { "lmtp", PROTO_LMTP }, { NULL, 0 }
};

/* Set *P to the value V names in CHOICES; else "'V' is not EXPECTED". */
static int
set_choice(struct loader *ld, const char *section, const struct key *k, const char *v, int *p,
    const struct choice *c, const char *expected)
{
	for (; c->name != NULL; c++)
		if (strcasecmp(v, c->name) == 0) {
			*p = c->value;
			return 0;
		}
	return loader_fail(ld, section, k->name, "'%s' is not %s", v, expected);
}

/* Set one value of a simple type into base+offset. */
static int
set_value(struct loader *ld, const char *section, const struct key *k,
    const char *v, void *base)
{
	long long n;
	char *p = (char *)base + k->offset;

	switch (k->type) {
	case K_STRING:
		if (strlcpy(p, v, k->size) >= k->size)
			return loader_fail(ld, section, k->name, "value is longer than %zu characters", k->size - 1);
		return 0;
	case K_INT:
	case K_SIZE:
		if (parse_number(v, &n, k->type == K_SIZE) < 0)
			return loader_fail(ld, section, k->name, "'%s' is not a whole number%s", v,
			    k->type == K_SIZE ? " (a K, M or G suffix is allowed)" : "");
		if (n < k->min || n > k->max)
			return loader_fail(ld, section, k->name, "%lld is out of range (%lld to %lld)", n, k->min, k->max);
		if (k->type == K_SIZE)
			*(long long *)p = n;
		else
			*(int *)p = (int)n;
		return 0;
	case K_BOOL:
		if (parse_bool(v, (int *)p) < 0)
			return loader_fail(ld, section, k->name, "'%s' is not yes or no", v);
		return 0;
	case K_TLS:
		return set_choice(ld, section, k, v, (int *)p, tls_choices, "one of none, starttls, implicit");
	case K_NEWLINE:
		return set_choice(ld, section, k, v, (int *)p, newline_choices, "one of normalize, reject");
	case K_AUTH:
		return set_choice(ld, section, k, v, (int *)p, auth_choices, "one of none, optional, required");
	case K_PROTO:
		return set_choice(ld, section, k, v, (int *)p, proto_choices, "smtp or lmtp (RFC 2033)");
	default:
		return 0;
	}
}

int
loader_int(struct loader *ld, const char *section, const char *name,
    long long min, long long max, int *out)
{
	struct key k = { name, K_INT, 0, 0, min, max };
	const char *v = loader_get(ld, section, name);

	return v == NULL ? 0 : set_value(ld, section, &k, v, out);
}

int
loader_bool(struct loader *ld, const char *section, const char *name, int *out)
{
	struct key k = { name, K_BOOL, 0, 0, 0, 0 };
	const char *v = loader_get(ld, section, name);

	return v == NULL ? 0 : set_value(ld, section, &k, v, out);
}

static const struct key *
find_key(const struct key *table, const char *name)
{
	for (; table->name != NULL; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

/* Is NAME among the keys of TABLE (and TABLE2), or of NAMES? */
static int
key_known(const char *name, const struct key *table, const struct key *table2,
    const char *const names[])
{
	if (names != NULL) {
		for (int j = 0; names[j] != NULL; j++)
			if (strcmp(names[j], name) == 0)
				return 1;
		return 0;
	}
	return find_key(table, name) != NULL || (table2 != NULL && find_key(table2, name) != NULL);
}

/* Every key present in SECTION must be known (key_known): else an error. */
static int
check_section_keys(struct loader *ld, const char *section, const struct key *table,
    const struct key *table2, const char *const names[])
{
	int n = iniparser_getsecnkeys(ld->ini, section);
	const char **keys;
	int i, rc = 0;

	if (n <= 0)
		return 0;
	keys = calloc((size_t)n, sizeof(*keys));
	if (keys == NULL)
		return loader_fail(ld, section, NULL, "out of memory");
	iniparser_getseckeys(ld->ini, section, keys);
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = strchr(keys[i], ':');
		name = name != NULL ? name + 1 : keys[i];
		if (!key_known(name, table, table2, names))
			rc = loader_fail(ld, section, name, "unknown key (see postern.conf(5) for the keys of this section)");
	}
	free(keys);
	return rc;
}

/* Every key present in SECTION must be in TABLE (or, for endpoints, in the
 * limits table). */
int
check_known_keys(struct loader *ld, const char *section, const struct key *table,
    const struct key *table2)
{
	return check_section_keys(ld, section, table, table2, NULL);
}

int
loader_check_names(struct loader *ld, const char *section, const char *const names[])
{
	return check_section_keys(ld, section, NULL, NULL, names);
}

int
load_table(struct loader *ld, const char *section, const struct key *table, void *base)
{
	for (; table->name != NULL; table++) {
		const char *v;
		if (table->type != K_STRING && table->type != K_INT && table->type != K_SIZE &&
		    table->type != K_BOOL && table->type != K_TLS && table->type != K_AUTH &&
		    table->type != K_PROTO && table->type != K_NEWLINE)
			continue;
		v = loader_get(ld, section, table->name);
		if (v == NULL)
			continue;
		if (set_value(ld, section, table, v, base) < 0)
			return -1;
	}
	return 0;
}
