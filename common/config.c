/*
 * config.c - read postern.conf with iniparser and check every key.
 *
 * Reserved sections are server, limits, tls and hooks; every other section is
 * an endpoint.  Each section has a table of the keys it knows; a key that is
 * not in the table, a value that does not parse or is out of range, and a
 * combination that cannot work (a TLS endpoint without a certificate, no data
 * hook) are errors that name the file, the section, the key and the reason.
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"
#include "netaddr.h"

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

enum key_type { K_STRING, K_INT, K_SIZE, K_BOOL, K_TLS, K_AUTH, K_PROTO, K_NEWLINE, K_HOOK, K_LISTEN,
    K_CUSTOM };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;          /* into struct config, struct limits or struct endpoint */
	size_t size;            /* K_STRING: buffer size */
	long long min, max;     /* K_INT, K_SIZE */
};

#define S(f)  offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define I(f)  offsetof(struct config, f), 0
#define L(f)  offsetof(struct limits, f), 0

static const struct key server_keys[] = {
	{ "hostname", K_STRING, S(hostname), 0, 0 },
	{ "banner", K_STRING, S(banner), 0, 0 },
	{ "user", K_STRING, S(user), 0, 0 },
	{ "group", K_STRING, S(group), 0, 0 },
	{ "pidfile", K_STRING, S(pidfile), 0, 0 },
	{ "spool_directory", K_STRING, S(spool_directory), 0, 0 },
	{ "authserv_id", K_STRING, S(authserv_id), 0, 0 },
	{ "workers", K_INT, I(workers), 1, 4096 },
	{ "min_spare", K_INT, I(min_spare), 0, 4096 },
	{ "max_spare", K_INT, I(max_spare), 1, 4096 },
	{ "max_workers", K_INT, I(max_workers), 1, 4096 },
	{ "max_sessions", K_INT, I(max_sessions), 1, 100000000 },
	{ "shutdown_grace", K_INT, I(shutdown_grace), 0, 86400 },
	{ "reverse_lookup", K_BOOL, I(reverse_lookup), 0, 0 },
	{ "dns_timeout", K_INT, I(dns_timeout), 1, 300 },
	{ "resolver", K_STRING, S(resolver), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

static const struct key limits_keys[] = {
	{ "max_message_size", K_SIZE, L(max_message_size), 0, 1LL << 40 },
	{ "max_recipients", K_INT, L(max_recipients), 1, 1000000 },
	{ "max_transactions", K_INT, L(max_transactions), 0, 1000000 },
	{ "max_errors", K_INT, L(max_errors), 1, 100000 },
	{ "max_auth_attempts", K_INT, L(max_auth_attempts), 1, 1000 },
	{ "max_connections_per_client", K_INT, L(max_connections_per_client), 0, 100000 },
	{ "command_timeout", K_INT, L(command_timeout), 1, 86400 },
	{ "data_timeout", K_INT, L(data_timeout), 1, 86400 },
	{ "max_junk_commands", K_INT, L(max_junk_commands), 0, 1000000 },
	{ "max_connection_rate", K_INT, L(max_connection_rate), 0, 100000000 },
	{ "max_message_rate", K_INT, L(max_message_rate), 0, 100000000 },
	{ "max_recipient_rate", K_INT, L(max_recipient_rate), 0, 100000000 },
	{ "max_auth_failure_rate", K_INT, L(max_auth_failure_rate), 0, 100000000 },
	{ "limit_exempt", K_CUSTOM, 0, 0, 0, 0 },       /* read by load_exempt */
	{ "bare_newline", K_NEWLINE, L(bare_newline), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

static const struct key tls_keys[] = {
	{ "certificate", K_STRING, S(tls_certificate), 0, 0 },
	{ "key", K_STRING, S(tls_key), 0, 0 },
	{ "priority", K_STRING, S(tls_priority), 0, 0 },
	{ "certificate_directory", K_STRING, S(tls_certificate_directory), 0, 0 },
	{ "ticket_key_file", K_STRING, S(tls_ticket_key_file), 0, 0 },
	{ "client_certificates", K_STRING, S(tls_client_certificates), 0, 0 },
	{ "client_ca", K_STRING, S(tls_client_ca), 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

static const struct key hooks_keys[] = {
	{ "connect", K_HOOK, HOOK_CONNECT, 0, 0, 0 },
	{ "helo", K_HOOK, HOOK_HELO, 0, 0, 0 },
	{ "auth", K_HOOK, HOOK_AUTH, 0, 0, 0 },
	{ "mail", K_HOOK, HOOK_MAIL, 0, 0, 0 },
	{ "rcpt", K_HOOK, HOOK_RCPT, 0, 0, 0 },
	{ "data", K_HOOK, HOOK_DATA, 0, 0, 0 },
	{ "timeout", K_CUSTOM, 0, 0, 0, 0 },            /* read by load_hooks */
	{ "data_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "directory", K_STRING, S(hook_directory), 0, 0 },
	{ "data_crlf", K_BOOL, I(data_crlf), 0, 0 },
	{ "persistent", K_CUSTOM, 0, 0, 0, 0 },
	{ "auth_protocol", K_CUSTOM, 0, 0, 0, 0 },
	{ "connect_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "helo_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "auth_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "mail_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ "rcpt_timeout", K_CUSTOM, 0, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

#define E(f)  offsetof(struct endpoint, f), 0
static const struct key endpoint_keys[] = {
	{ "listen", K_LISTEN, 0, 0, 0, 0 },
	{ "tls", K_TLS, E(tls), 0, 0 },
	{ "auth", K_AUTH, E(auth), 0, 0 },
	{ "protocol", K_PROTO, E(protocol), 0, 0 },
	{ "insecure_auth", K_BOOL, E(insecure_auth), 0, 0 },
	{ "proxy_protocol", K_BOOL, E(proxy_protocol), 0, 0 },
	{ "proxy_trusted", K_CUSTOM, 0, 0, 0, 0 },
	{ "pipeline", K_CUSTOM, 0, 0, 0, 0 },          /* read by load_pipeline */
	{ NULL, 0, 0, 0, 0, 0 }
};

static const char *const hook_names[HOOK_COUNT] = {
	"connect", "helo", "auth", "mail", "rcpt", "data"
};

const char *
hook_name(enum hook_kind k)
{
	return (unsigned)k < HOOK_COUNT ? hook_names[k] : "?";
}

static int
vfail(struct loader *ld, const char *section, const char *key, const char *fmt, va_list ap)
{
	char reason[512];

	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (key != NULL)
		snprintf(ld->err, ld->errlen, "%s: [%s] %s: %s", ld->file, section, key, reason);
	else if (section != NULL)
		snprintf(ld->err, ld->errlen, "%s: [%s]: %s", ld->file, section, reason);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->file, reason);
	return -1;
}

static int __attribute__((format(printf, 4, 5)))
fail(struct loader *ld, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ld, section, key, fmt, ap);
	va_end(ap);
	return -1;
}

int
loader_fail(struct loader *ld, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ld, section, key, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
get(struct loader *ld, const char *section, const char *key)
{
	char full[256];

	snprintf(full, sizeof(full), "%s:%s", section, key);
	return iniparser_getstring(ld->ini, full, NULL);
}

const char *
loader_get(struct loader *ld, const char *section, const char *key)
{
	return get(ld, section, key);
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
			return fail(ld, section, k->name, "value is longer than %zu characters", k->size - 1);
		return 0;
	case K_INT:
	case K_SIZE:
		if (parse_number(v, &n, k->type == K_SIZE) < 0)
			return fail(ld, section, k->name, "'%s' is not a whole number%s", v,
			    k->type == K_SIZE ? " (a K, M or G suffix is allowed)" : "");
		if (n < k->min || n > k->max)
			return fail(ld, section, k->name, "%lld is out of range (%lld to %lld)", n, k->min, k->max);
		if (k->type == K_SIZE)
			*(long long *)p = n;
		else
			*(int *)p = (int)n;
		return 0;
	case K_BOOL:
		if (parse_bool(v, (int *)p) < 0)
			return fail(ld, section, k->name, "'%s' is not yes or no", v);
		return 0;
	case K_TLS:
		if (!strcasecmp(v, "none")) *(enum tls_mode *)p = TLS_NONE;
		else if (!strcasecmp(v, "starttls")) *(enum tls_mode *)p = TLS_STARTTLS;
		else if (!strcasecmp(v, "implicit")) *(enum tls_mode *)p = TLS_IMPLICIT;
		else return fail(ld, section, k->name, "'%s' is not one of none, starttls, implicit", v);
		return 0;
	case K_NEWLINE:
		if (!strcasecmp(v, "normalize")) *(int *)p = BARE_NEWLINE_NORMALIZE;
		else if (!strcasecmp(v, "reject")) *(int *)p = BARE_NEWLINE_REJECT;
		else return fail(ld, section, k->name, "'%s' is not one of normalize, reject", v);
		return 0;
	case K_AUTH:
		if (!strcasecmp(v, "none")) *(enum auth_mode *)p = AUTH_NONE;
		else if (!strcasecmp(v, "optional")) *(enum auth_mode *)p = AUTH_OPTIONAL;
		else if (!strcasecmp(v, "required")) *(enum auth_mode *)p = AUTH_REQUIRED;
		else return fail(ld, section, k->name, "'%s' is not one of none, optional, required", v);
		return 0;
	case K_PROTO:
		if (!strcasecmp(v, "smtp")) *(enum protocol *)p = PROTO_SMTP;
		else if (!strcasecmp(v, "lmtp")) *(enum protocol *)p = PROTO_LMTP;
		else return fail(ld, section, k->name, "'%s' is not smtp or lmtp (RFC 2033)", v);
		return 0;
	default:
		return 0;
	}
}

int
loader_int(struct loader *ld, const char *section, const char *name,
    long long min, long long max, int *out)
{
	struct key k = { name, K_INT, 0, 0, min, max };
	const char *v = get(ld, section, name);

	return v == NULL ? 0 : set_value(ld, section, &k, v, out);
}

int
loader_bool(struct loader *ld, const char *section, const char *name, int *out)
{
	struct key k = { name, K_BOOL, 0, 0, 0, 0 };
	const char *v = get(ld, section, name);

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

/* Every key present in SECTION must be in TABLE (or, for endpoints, in the
 * limits table). */
static int
check_known_keys(struct loader *ld, const char *section, const struct key *table,
    const struct key *table2)
{
	int n = iniparser_getsecnkeys(ld->ini, section);
	const char **keys;
	int i, rc = 0;

	if (n <= 0)
		return 0;
	keys = calloc((size_t)n, sizeof(*keys));
	if (keys == NULL)
		return fail(ld, section, NULL, "out of memory");
	iniparser_getseckeys(ld->ini, section, keys);
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = strchr(keys[i], ':');
		name = name != NULL ? name + 1 : keys[i];
		if (find_key(table, name) == NULL && (table2 == NULL || find_key(table2, name) == NULL))
			rc = fail(ld, section, name, "unknown key (see postern.conf(5) for the keys of this section)");
	}
	free(keys);
	return rc;
}

int
loader_check_names(struct loader *ld, const char *section, const char *const names[])
{
	int n = iniparser_getsecnkeys(ld->ini, section);
	const char **keys;
	int i, j, rc = 0;

	if (n <= 0)
		return 0;
	keys = calloc((size_t)n, sizeof(*keys));
	if (keys == NULL)
		return fail(ld, section, NULL, "out of memory");
	iniparser_getseckeys(ld->ini, section, keys);
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = strchr(keys[i], ':');
		name = name != NULL ? name + 1 : keys[i];
		for (j = 0; names[j] != NULL && strcmp(names[j], name) != 0; j++)
			;
		if (names[j] == NULL)
			rc = fail(ld, section, name, "unknown key (see postern.conf(5) for the keys of this section)");
	}
	free(keys);
	return rc;
}

static int
load_table(struct loader *ld, const char *section, const struct key *table, void *base)
{
	for (; table->name != NULL; table++) {
		const char *v;
		if (table->type != K_STRING && table->type != K_INT && table->type != K_SIZE &&
		    table->type != K_BOOL && table->type != K_TLS && table->type != K_AUTH &&
		    table->type != K_PROTO && table->type != K_NEWLINE)
			continue;
		v = get(ld, section, table->name);
		if (v == NULL)
			continue;
		if (set_value(ld, section, table, v, base) < 0)
			return -1;
	}
	return 0;
}

/* Up to MAX address blocks separated by spaces ("" for none) into OUT; their
 * number in *N.  Returns 0, or -1 with the reason in WHY. */
static int
parse_cidr_list(const char *v, struct cidr *out, int max, int *n, char *why, size_t whylen)
{
	char *copy, *w[CONFIG_MAX_WORDS + 1];
	int k, i;

	if ((copy = strdup(v)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	k = split_words(copy, w, max < CONFIG_MAX_WORDS ? max : CONFIG_MAX_WORDS);
	if (k < 0) {
		free(copy);
		snprintf(why, whylen, "at most %d address blocks", max);
		return -1;
	}
	for (i = 0; i < k; i++) {
		if (netaddr_parse_cidr(w[i], &out[i], why, whylen) < 0) {
			free(copy);
			return -1;
		}
	}
	*n = k;
	free(copy);
	return 0;
}

/* A key whose value is a list of address blocks, if it is set. */
static int
load_cidr_list(struct loader *ld, const char *section, const char *key, struct cidr *out,
    int max, int *n)
{
	const char *v = get(ld, section, key);
	char why[256];

	if (v != NULL && parse_cidr_list(v, out, max, n, why, sizeof(why)) < 0)
		return fail(ld, section, key, "%s", why);
	return 0;
}

static int
load_exempt(struct loader *ld, const char *section, struct limits *lim)
{
	return load_cidr_list(ld, section, "limit_exempt", lim->limit_exempt, CONFIG_MAX_EXEMPT,
	    &lim->nlimit_exempt);
}

static int
load_endpoint(struct loader *ld, const char *section, struct config *c)
{
	struct endpoint *ep;
	const char *v;
	char *copy, *words[CONFIG_MAX_LISTEN + 1];
	int n, i;

	if (c->nendpoints == CONFIG_MAX_ENDPOINTS)
		return fail(ld, section, NULL, "too many endpoints (at most %d)", CONFIG_MAX_ENDPOINTS);
	ep = &c->endpoints[c->nendpoints++];
	if (strlcpy(ep->name, section, sizeof(ep->name)) >= sizeof(ep->name))
		return fail(ld, section, NULL, "endpoint name too long");
	ep->limits = c->limits;
	ep->tls = TLS_NONE;
	ep->auth = AUTH_NONE;
	if (check_known_keys(ld, section, endpoint_keys, limits_keys) < 0)
		return -1;
	if (load_table(ld, section, endpoint_keys, ep) < 0 ||
	    load_table(ld, section, limits_keys, &ep->limits) < 0 ||
	    load_exempt(ld, section, &ep->limits) < 0)
		return -1;
	v = get(ld, section, "listen");
	if (v == NULL || *v == '\0')
		return fail(ld, section, "listen", "missing: every endpoint needs at least one address:port");
	if ((copy = strdup(v)) == NULL)
		return fail(ld, section, "listen", "out of memory");
	n = split_words(copy, words, CONFIG_MAX_LISTEN);
	if (n <= 0) {
		free(copy);
		return fail(ld, section, "listen", "expected 1 to %d addresses", CONFIG_MAX_LISTEN);
	}
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char why[256];
		if (netaddr_parse_listen(words[i], &ss, &len, why, sizeof(why)) < 0) {
			free(copy);
			return fail(ld, section, "listen", "%s", why);
		}
		if ((ep->listen[i] = strdup(words[i])) == NULL) {
			free(copy);
			return fail(ld, section, "listen", "out of memory");
		}
		ep->nlisten = i + 1;    /* so that config_free frees what is there */
	}
	free(copy);
	if (load_cidr_list(ld, section, "proxy_trusted", ep->proxy_trusted, CONFIG_MAX_TRUSTED,
	    &ep->nproxy_trusted) < 0)
		return -1;
	if (ep->proxy_protocol && ep->nproxy_trusted == 0)
		return fail(ld, section, "proxy_trusted", "proxy_protocol = yes needs the addresses of the proxies (e.g. proxy_trusted = 127.0.0.1/32)");
	if (!ep->proxy_protocol && ep->nproxy_trusted > 0)
		return fail(ld, section, "proxy_trusted", "set proxy_protocol = yes as well, or remove proxy_trusted");
	if (load_pipeline(ld, section, c, ep) < 0)
		return -1;
	if (ep->auth != AUTH_NONE && c->hooks[HOOK_AUTH].line == NULL &&
	    !endpoint_has_stage(c, ep, HOOK_AUTH))
		return fail(ld, section, "auth", "auth = %s needs an auth hook: set [hooks] auth (e.g. postern-passwd FILE)",
		    ep->auth == AUTH_REQUIRED ? "required" : "optional");
	if (ep->auth == AUTH_REQUIRED && ep->tls == TLS_NONE && !ep->insecure_auth)
		return fail(ld, section, "auth", "required, but AUTH is never offered here: it needs TLS (tls = starttls or implicit) or insecure_auth = yes");
	if (ep->tls != TLS_NONE && c->tls_certificate[0] == '\0')
		return fail(ld, section, "tls", "%s needs a certificate: set [tls] certificate and key",
		    ep->tls == TLS_STARTTLS ? "starttls" : "implicit");
	return 0;
}

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

struct config *
config_load(const char *file, char *err, size_t errlen)
{
	struct loader ld = { NULL, file, err, errlen };
	struct config *c;
	FILE *probe;
	char why[256];
	int nsec, i;

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
			fail(&ld, NULL, NULL, "'%s' is outside any section: put it under [server], [limits], [tls], [hooks] or an endpoint",
			    ld.ini->key[i] + 1);
			goto bad;
		}
	}
	/* Reserved sections first: endpoints inherit [limits]. */
	if (check_known_keys(&ld, "server", server_keys, NULL) < 0 ||
	    load_table(&ld, "server", server_keys, c) < 0 ||
	    check_known_keys(&ld, "limits", limits_keys, NULL) < 0 ||
	    load_table(&ld, "limits", limits_keys, &c->limits) < 0 ||
	    load_exempt(&ld, "limits", &c->limits) < 0 ||
	    check_known_keys(&ld, "tls", tls_keys, NULL) < 0 ||
	    load_table(&ld, "tls", tls_keys, c) < 0 ||
	    check_known_keys(&ld, "hooks", hooks_keys, NULL) < 0 ||
	    load_table(&ld, "hooks", hooks_keys, c) < 0 ||
	    load_hooks(&ld, c) < 0 ||
	    load_named_steps(&ld, c) < 0 ||
	    load_metrics(&ld, c) < 0)
		goto bad;
	nsec = iniparser_getnsec(ld.ini);
	for (i = 0; i < nsec; i++) {
		const char *s = iniparser_getsecname(ld.ini, i);
		if (!strcmp(s, "server") || !strcmp(s, "limits") || !strcmp(s, "tls") || !strcmp(s, "hooks") ||
		    !strcmp(s, "metrics") || is_step_section(s))
			continue;
		if (load_endpoint(&ld, s, c) < 0)
			goto bad;
	}
	if (c->nendpoints == 0) {
		fail(&ld, NULL, NULL, "no endpoint: add a section such as [smtp] with listen = 0.0.0.0:25");
		goto bad;
	}
	if (c->min_spare > c->max_spare) {
		fail(&ld, "server", "min_spare", "%d is larger than max_spare (%d)", c->min_spare, c->max_spare);
		goto bad;
	}
	if (c->workers > c->max_workers) {
		fail(&ld, "server", "workers", "%d is larger than max_workers (%d)", c->workers, c->max_workers);
		goto bad;
	}
	for (i = 0; c->banner[i] != '\0'; i++) {
		if ((unsigned char)c->banner[i] < 0x20 || (unsigned char)c->banner[i] > 0x7e) {
			fail(&ld, "server", "banner", "only printable ASCII is allowed in the greeting");
			goto bad;
		}
	}
	if (c->hostname[0] == '\0' || strpbrk(c->hostname, " \t\r\n") != NULL) {
		fail(&ld, "server", "hostname", "must be a domain name without spaces");
		goto bad;
	}
	if (c->authserv_id[0] == '\0')
		strlcpy(c->authserv_id, c->hostname, sizeof(c->authserv_id));
	else if (strpbrk(c->authserv_id, " \t\r\n;()\"") != NULL) {
		fail(&ld, "server", "authserv_id", "must be one word without ; ( ) or quotes (RFC 8601), e.g. the host name");
		goto bad;
	}
	if (c->hook_directory[0] != '/') {
		fail(&ld, "hooks", "directory", "'%s' is not an absolute path", c->hook_directory);
		goto bad;
	}
	{
		struct stat st;
		if (stat(c->hook_directory, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fail(&ld, "hooks", "directory", "'%s' is not a directory", c->hook_directory);
			goto bad;
		}
	}
	if (c->resolver[0] != '\0' &&
	    resolver_parse(c->resolver, &c->resolver_addr, why, sizeof(why)) < 0) {
		fail(&ld, "server", "resolver", "%s", why);
		goto bad;
	}
	if (c->spool_directory[0] != '/') {
		fail(&ld, "server", "spool_directory", "'%s' is not an absolute path", c->spool_directory);
		goto bad;
	}
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
