/* SPDX-License-Identifier: ISC */
/*
 * policy-request.c - read one Postfix-policy-style request from posternd on
 * standard input: attribute lines up to an empty line, kept in one buffer;
 * the message of a postern_data request is then read with preader_body().
 * And the persistent-mode answer of a hook that is misconfigured.
 */
#include "policy-request.h"
#include "../common/growbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

void
preader_init(struct preader *rd, int fd)
{
	rd->fd = fd;
	rd->start = rd->end = 0;
}

int
preader_buffered(const struct preader *rd)
{
	return rd->end > rd->start;
}

static int
fill(struct preader *rd)
{
	ssize_t n;

	if (rd->start > 0) {
		memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
		rd->end -= rd->start;
		rd->start = 0;
	}
	if (rd->end == sizeof(rd->buf))
		return 1;
	do
		n = read(rd->fd, rd->buf + rd->end, sizeof(rd->buf) - rd->end);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		rd->end += (size_t)n;
	return n < 0 ? -1 : n > 0;
}

static int
add(struct preq *q, const char *p, size_t n)
{
	if (q->len + n + 1 > PREQ_TOTAL_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (growbuf_reserve(&q->data, &q->cap, q->len + n + 1, 8192) < 0)
		return -1;
	memcpy(q->data + q->len, p, n);
	q->data[q->len + n] = '\0';
	q->len += n + 1;
	q->count++;
	return 0;
}

int
preq_read(struct preader *rd, struct preq *q)
{
	q->len = 0;
	q->count = 0;
	for (;;) {
		char *lf = memchr(rd->buf + rd->start, '\n', rd->end - rd->start);
		size_t n;
		int rc;

		if (lf == NULL) {
			if (rd->end - rd->start >= PREQ_LINE_MAX) {
				errno = EMSGSIZE;
				return -1;
			}
			if ((rc = fill(rd)) <= 0) {
				if (rc == 0 && (q->count > 0 || rd->end > rd->start))
					errno = EPIPE, rc = -1;
				return rc;
			}
			continue;
		}
		n = (size_t)(lf - (rd->buf + rd->start));
		if (n > 0 && rd->buf[rd->start + n - 1] == '\r')
			n--;
		if (n == 0) {
			rd->start = (size_t)(lf - rd->buf) + 1;
			if (q->count > 0)
				return 1;
			continue;       /* stray empty line between requests */
		}
		if (memchr(rd->buf + rd->start, '=', n) != NULL &&
		    add(q, rd->buf + rd->start, n) < 0)
			return -1;
		rd->start = (size_t)(lf - rd->buf) + 1;
	}
}

ssize_t
preader_body(struct preader *rd, char *buf, size_t n)
{
	ssize_t got;

	if (rd->end > rd->start) {
		size_t l = rd->end - rd->start < n ? rd->end - rd->start : n;
		memcpy(buf, rd->buf + rd->start, l);
		rd->start += l;
		return (ssize_t)l;
	}
	do
		got = read(rd->fd, buf, n);
	while (got < 0 && errno == EINTR);
	return got;
}

const char *
preq_next(const struct preq *q, const char *name, const char **it)
{
	size_t nl = strlen(name);
	const char *p = *it == NULL ? q->data : *it;
	const char *end = q->data + q->len;

	if (q->data == NULL)
		return NULL;
	while (p < end) {
		const char *cur = p;
		p += strlen(p) + 1;
		if (strncmp(cur, name, nl) == 0 && cur[nl] == '=') {
			*it = p;
			return cur + nl + 1;
		}
	}
	*it = end;
	return NULL;
}

const char *
preq_get(const struct preq *q, const char *name)
{
	const char *it = NULL, *v, *last = "";

	while ((v = preq_next(q, name, &it)) != NULL)
		last = v;
	return last;
}

int
preq_has(const struct preq *q, const char *name)
{
	return preq_get(q, name)[0] != '\0';
}

int
preq_size(const struct preq *q, unsigned long long *size)
{
	const char *v = preq_get(q, "size");
	size_t n = strlen(v);

	if (n == 0 || n > 18 || strspn(v, "0123456789") != n)
		return -1;
	*size = strtoull(v, NULL, 10);
	return 0;
}

void
preq_free(struct preq *q)
{
	free(q->data);
	q->data = NULL;
	q->len = q->cap = q->count = 0;
}

void
preq_misconfigured(const char *prog)
{
	char line[8192];

	if (getenv("POSTERN_PERSISTENT") != NULL) {
		while (fgets(line, sizeof(line), stdin) != NULL)
			if (line[0] == '\n') {
				printf("action=451 4.3.0 %s is misconfigured (see the log)\n\n", prog);
				fflush(stdout);
			}
	}
	exit(EX_TEMPFAIL);
}
