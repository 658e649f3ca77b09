/* SPDX-License-Identifier: ISC */
/*
 * config_loader.h - what the files of the configuration loader share
 * (config_load.c, config_keys.c, config_loader.c, config_endpoint.c,
 * steps.c): the loader state, the key tables, error reporting with file,
 * section, key and reason, and value readers.
 */
#ifndef POSTERN_CONFIG_LOADER_H
#define POSTERN_CONFIG_LOADER_H

#include <stddef.h>
#include <iniparser.h>
#include "config.h"

enum key_type { K_STRING, K_INT, K_SIZE, K_BOOL, K_TLS, K_AUTH, K_PROTO, K_NEWLINE, K_HOOK, K_LISTEN,
    K_CUSTOM };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;          /* into struct config, struct limits or struct endpoint */
	size_t size;            /* K_STRING: buffer size */
	long long min, max;     /* K_INT, K_SIZE */
};

/* config_keys.c: the key tables of the sections. */
extern const struct key server_keys[], limits_keys[], tls_keys[], hooks_keys[],
    endpoint_keys[];

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

/* Every key of SECTION must be in TABLE or EXTRA (may be NULL). */
int check_known_keys(struct loader *, const char *section, const struct key *table,
    const struct key *extra);
/* Read the keys of TABLE present in SECTION into BASE. */
int load_table(struct loader *, const char *section, const struct key *table, void *base);

/* config_endpoint.c: address-block lists, limit_exempt, endpoint sections. */
int parse_cidr_list(const char *v, struct cidr *out, int max, int *n, char *why, size_t whylen);
int load_exempt(struct loader *, const char *section, struct limits *);
int load_endpoint(struct loader *, const char *section, struct config *);

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
