/* SPDX-License-Identifier: ISC */
/*
 * config_metrics.c - the [metrics] section: `listen = IP:PORT`, where the
 * metrics process serves Prometheus text.  [metrics] is reserved since
 * Part 2; a Part 1 endpoint of that name (one with SMTP keys) is told to
 * rename itself.
 */
#include "autoconf.h"
#include "config_loader.h"
#include "netaddr.h"

#include <string.h>
#include <sys/socket.h>

static const char *const metrics_names[] = { "listen", NULL };

/* Keys that only an SMTP endpoint has. */
static const char *const endpoint_only[] = {
	"tls", "auth", "insecure_auth", "proxy_protocol", "proxy_trusted", "pipeline", NULL
};

int
load_metrics(struct loader *ld, struct config *c)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *v;
	char why[256];

	for (int i = 0; endpoint_only[i] != NULL; i++)
		if (loader_get(ld, "metrics", endpoint_only[i]) != NULL)
			return loader_fail(ld, "metrics", NULL,
			    "[metrics] is reserved for the metrics server (listen = IP:PORT); "
			    "an endpoint named \"metrics\" must be renamed, e.g. to [smtp-metrics]");
	if (loader_check_names(ld, "metrics", metrics_names) < 0)
		return -1;
	if ((v = loader_get(ld, "metrics", "listen")) == NULL || v[0] == '\0')
		return 0;
	if (netaddr_parse_listen(v, &ss, &sslen, why, sizeof(why)) < 0)
		return loader_fail(ld, "metrics", "listen", "%s (one IP:PORT, e.g. 127.0.0.1:9587)", why);
	if (strlcpy(c->metrics_listen, v, sizeof(c->metrics_listen)) >= sizeof(c->metrics_listen))
		return loader_fail(ld, "metrics", "listen", "too long");
	return 0;
}
