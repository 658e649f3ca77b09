/* SPDX-License-Identifier: ISC */
/*
 * policy-request.h - read the requests posternd sends a persistent hook
 * (postern-hooks(7) PERSISTENT MODE): name=value lines, an empty line and,
 * for request=postern_data, exactly size= bytes of message.  Shared by
 * postern-forward and postern-webhook.
 */
#ifndef POSTERN_POLICY_REQUEST_H
#define POSTERN_POLICY_REQUEST_H

#include <stddef.h>
#include <sys/types.h>

#define PREQ_LINE_MAX	65536		/* one attribute line */
#define PREQ_TOTAL_MAX	(8 << 20)	/* one request's attributes */

struct preader {
	int fd;
	size_t start, end;
	char buf[65536];
};

struct preq {
	char *data;		/* "name=value\0" one after another */
	size_t len, cap;
	size_t count;
};

void preader_init(struct preader *rd, int fd);
int preader_buffered(const struct preader *rd);
/* One request: 1, 0 at the end of input, -1 on an error (errno; EMSGSIZE
 * for a request that is too long). */
int preq_read(struct preader *rd, struct preq *q);
/* Up to N bytes of what follows the request: > 0, 0 at EOF, -1. */
ssize_t preader_body(struct preader *rd, char *buf, size_t n);

/* The value of the last attribute NAME, or "" when there is none. */
const char *preq_get(const struct preq *q, const char *name);
/* Is there an attribute NAME with a value that is not empty? */
int preq_has(const struct preq *q, const char *name);
/* The size= of a postern_data request in *SIZE: 0, or -1 when it is missing
 * or not a decimal number of at most 18 digits. */
int preq_size(const struct preq *q, unsigned long long *size);
/* The values of every attribute NAME in order: call with *it == NULL first;
 * returns NULL after the last one. */
const char *preq_next(const struct preq *q, const char *name, const char **it);
void preq_free(struct preq *q);

/* The end of a hook that cannot work as configured (the reason is already on
 * stderr): in persistent mode every request gets "action=451 4.3.0 PROG is
 * misconfigured" until the end of input, so that a typo never bounces mail;
 * then exit EX_TEMPFAIL. */
void preq_misconfigured(const char *prog) __attribute__((noreturn));

#endif
