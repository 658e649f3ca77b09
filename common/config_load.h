/* SPDX-License-Identifier: ISC */
/*
 * config_load.h - read and check postern.conf (config_load.c); the result is
 * shared read-only by master and workers.
 */
#ifndef POSTERN_CONFIG_LOAD_H
#define POSTERN_CONFIG_LOAD_H

#include <stddef.h>
#include "config.h"

/* Load and check FILE.  On error returns NULL and writes a message that names
 * the file, section, key and reason into err. */
struct config *config_load(const char *file, char *err, size_t errlen);
void config_free(struct config *);

#endif
