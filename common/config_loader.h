/*
 * config_loader.h - what config.c shares with the loaders of the step
 * sections (steps.c): the loader state, error reporting with file, section,
 * key and reason, and value readers.
 */
#ifndef POSTERN_CONFIG_LOADER_H
#define POSTERN_CONFIG_LOADER_H

#include <stddef.h>
#include <iniparser.h>
#include "config.h"

struct loader {
	dictionary *ini;
	const char *file;
	char *err;
	size_t errlen;
};

/* Write "FILE: [SECTION] KEY: reason" into the error buffer; returns -1. */
int loader_fail(struct loader *, const char *section, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The value of SECTION:KEY, or NULL when absent. */
const char *loader_get(struct loader *, const char *section, const char *key);
/* Read an integer key into *OUT if present.  0, or -1 (error written). */
int loader_int(struct loader *, const char *section, const char *key,
    long long min, long long max, int *out);
int loader_bool(struct loader *, const char *section, const char *key, int *out);
/* Every key of SECTION must be one of NAMES (NULL-terminated). */
int loader_check_names(struct loader *, const char *section, const char *const names[]);

/* steps.c: the [hooks] section, the [hook.NAME] and [milter.NAME]
 * sections, and an endpoint's pipeline key. */
int load_hooks(struct loader *, struct config *);
int load_named_steps(struct loader *, struct config *);
int load_pipeline(struct loader *, const char *section, struct config *, struct endpoint *);
int is_step_section(const char *section);
void steps_free(struct config *);

/* config_metrics.c: the [metrics] section. */
int load_metrics(struct loader *, struct config *);

#endif
