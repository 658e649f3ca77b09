/* SPDX-License-Identifier: ISC */
/*
 * postern-ticket-key - write a new TLS session-ticket key for [tls]
 * ticket_key_file: 64 random octets from GnuTLS's key generator, base64,
 * mode 0600, replacing FILE atomically (a posternd that reloads meanwhile
 * reads the old key or the new one, never half of one).  Then
 * `kill -HUP` each posternd that uses FILE (on every node that shares it).
 */
#include "autoconf.h"
#include "../common/tls_ticket.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void
usage(FILE *f)
{
	fprintf(f, "usage: postern-ticket-key FILE\n"
	    "  writes a new random session-ticket key to FILE (mode 0600);\n"
	    "  then send SIGHUP to every posternd whose [tls] ticket_key_file is FILE\n");
}

int
main(int argc, char **argv)
{
	char err[4200];

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0') {
		usage(stderr);
		return 1;
	}
	umask(077);
	if (tls_ticket_write(argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "postern-ticket-key: %s\n", err);
		return 1;
	}
	return 0;
}
