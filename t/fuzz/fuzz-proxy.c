/* SPDX-License-Identifier: ISC */
/*
 * fuzz-proxy.c - libFuzzer harness for the PROXY header parser
 * (worker/proxy.c, proxy_parse).  The input is fed as the socket reader
 * feeds it, as many octets as the parser asks for each time; the parser
 * must never ask for more than a header can hold, must finish within the
 * input or ask for more, and must give addresses of a known family.
 */
#include "autoconf.h"
#include "worker/proxy.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_MAX (16 + 4096)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage client, server;
	char why[256];
	size_t have = 0, need = 1;
	int rc;

	memset(&client, 0, sizeof(client));
	memset(&server, 0, sizeof(server));
	for (;;) {
		if (need < 1 || have + need > HEADER_MAX)
			abort();
		if (have + need > size)
			return 0;       /* the reader would wait for more */
		have += need;
		why[0] = '\0';
		rc = proxy_parse(data, have, &need, &client, &server, why, sizeof(why));
		if (rc == PROXY_MORE)
			continue;
		if (rc == PROXY_BAD) {
			if (why[0] == '\0' || strnlen(why, sizeof(why)) == sizeof(why))
				abort();
			return 0;
		}
		if (rc != PROXY_DONE)
			abort();
		break;
	}
	if (client.ss_family != 0 && client.ss_family != AF_INET && client.ss_family != AF_INET6)
		abort();
	if (client.ss_family != server.ss_family)
		abort();
	return 0;
}
