/* SPDX-License-Identifier: ISC */
/*
 * fuzz-config.c - libFuzzer harness for the config loader
 * (common/config.c over iniparser): any file either loads into a config
 * that satisfies the documented invariants or is refused with a message.
 */
#include "autoconf.h"
#include "common/config.h"
#include "common/config_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/postern-fuzz-config-XXXXXX", err[2048];
	struct config *c;
	FILE *f;
	int fd;

	if (size > 65536)
		return 0;
	if ((fd = mkstemp(path)) < 0)
		return 0;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(path);
		return 0;
	}
	fwrite(data, 1, size, f);
	fclose(f);
	c = config_load(path, err, sizeof(err));
	unlink(path);
	if (c == NULL) {
		if (err[0] == '\0')
			abort();        /* a refusal always says why */
		return 0;
	}
	if (c->nendpoints < 1 || c->nendpoints > CONFIG_MAX_ENDPOINTS ||
	    c->min_spare > c->max_spare || c->workers > c->max_workers)
		abort();
	for (int i = 0; i < c->nendpoints; i++)
		if (c->endpoints[i].nlisten < 1 || !endpoint_has_stage(c, &c->endpoints[i], HOOK_DATA))
			abort();
	config_free(c);
	return 0;
}
