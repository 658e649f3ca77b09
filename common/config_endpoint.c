/* SPDX-License-Identifier: ISC */
/*
 * config_endpoint.c - an endpoint section of postern.conf: its addresses,
 * its limits (inheriting [limits]), address-block lists (limit_exempt,
 * proxy_trusted), its pipeline, and the checks that its TLS and AUTH
 * settings can work.
 */
#include "autoconf.h"
#include "config.h"
#include "config_loader.h"
#include "netaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Up to MAX address blocks separated by spaces ("" for none) into OUT; their
 * number in *N.  Returns 0, or -1 with the reason in WHY. */
int
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
	const char *v = loader_get(ld, section, key);
	char why[256];

	if (v != NULL && parse_cidr_list(v, out, max, n, why, sizeof(why)) < 0)
		return loader_fail(ld, section, key, "%s", why);
	return 0;
}

int
load_exempt(struct loader *ld, const char *section, struct limits *lim)
{
	return load_cidr_list(ld, section, "limit_exempt", lim->limit_exempt, CONFIG_MAX_EXEMPT,
	    &lim->nlimit_exempt);
}

int
load_endpoint(struct loader *ld, const char *section, struct config *c)
{
	struct endpoint *ep;
	const char *v;
	char *copy, *words[CONFIG_MAX_LISTEN + 1];
	int n, i;

	if (c->nendpoints == CONFIG_MAX_ENDPOINTS)
		return loader_fail(ld, section, NULL, "too many endpoints (at most %d)", CONFIG_MAX_ENDPOINTS);
	ep = &c->endpoints[c->nendpoints++];
	if (strlcpy(ep->name, section, sizeof(ep->name)) >= sizeof(ep->name))
		return loader_fail(ld, section, NULL, "endpoint name too long");
	ep->limits = c->limits;
	ep->tls = TLS_NONE;
	ep->auth = AUTH_NONE;
	if (check_known_keys(ld, section, endpoint_keys, limits_keys) < 0)
		return -1;
	if (load_table(ld, section, endpoint_keys, ep) < 0 ||
	    load_table(ld, section, limits_keys, &ep->limits) < 0 ||
	    load_exempt(ld, section, &ep->limits) < 0)
		return -1;
	v = loader_get(ld, section, "listen");
	if (v == NULL || *v == '\0')
		return loader_fail(ld, section, "listen", "missing: every endpoint needs at least one address:port");
	if ((copy = strdup(v)) == NULL)
		return loader_fail(ld, section, "listen", "out of memory");
	n = split_words(copy, words, CONFIG_MAX_LISTEN);
	if (n <= 0) {
		free(copy);
		return loader_fail(ld, section, "listen", "expected 1 to %d addresses", CONFIG_MAX_LISTEN);
	}
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char why[256];
		if (netaddr_parse_listen(words[i], &ss, &len, why, sizeof(why)) < 0) {
			free(copy);
			return loader_fail(ld, section, "listen", "%s", why);
		}
		if ((ep->listen[i] = strdup(words[i])) == NULL) {
			free(copy);
			return loader_fail(ld, section, "listen", "out of memory");
		}
		ep->nlisten = i + 1;    /* so that config_free frees what is there */
	}
	free(copy);
	if (load_cidr_list(ld, section, "proxy_trusted", ep->proxy_trusted, CONFIG_MAX_TRUSTED,
	    &ep->nproxy_trusted) < 0)
		return -1;
	if (ep->proxy_protocol && ep->nproxy_trusted == 0)
		return loader_fail(ld, section, "proxy_trusted", "proxy_protocol = yes needs the addresses of the proxies (e.g. proxy_trusted = 127.0.0.1/32)");
	if (!ep->proxy_protocol && ep->nproxy_trusted > 0)
		return loader_fail(ld, section, "proxy_trusted", "set proxy_protocol = yes as well, or remove proxy_trusted");
	if (load_pipeline(ld, section, c, ep) < 0)
		return -1;
	if (ep->auth != AUTH_NONE && c->hooks[HOOK_AUTH].line == NULL &&
	    !endpoint_has_stage(c, ep, HOOK_AUTH))
		return loader_fail(ld, section, "auth", "auth = %s needs an auth hook: set [hooks] auth (e.g. postern-passwd FILE)",
		    ep->auth == AUTH_REQUIRED ? "required" : "optional");
	if (ep->auth == AUTH_REQUIRED && ep->tls == TLS_NONE && !ep->insecure_auth)
		return loader_fail(ld, section, "auth", "required, but AUTH is never offered here: it needs TLS (tls = starttls or implicit) or insecure_auth = yes");
	if (ep->tls != TLS_NONE && c->tls_certificate[0] == '\0')
		return loader_fail(ld, section, "tls", "%s needs a certificate: set [tls] certificate and key",
		    ep->tls == TLS_STARTTLS ? "starttls" : "implicit");
	return 0;
}
