/* SPDX-License-Identifier: ISC */
/*
 * message.c - the message between data steps (see message.h): memory or a
 * file, the headers steps added that are not in it yet, and the copies
 * that put them in, or that leave out the forged Authentication-Results
 * fields.
 */
#include "autoconf.h"
#include "message.h"
#include "header.h"
#include "spool.h"
#include "../common/growbuf.h"
#include "../common/writeall.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_BUF 65536
#define AR_RANGES_MAX 1024      /* more forged fields than this: a temporary failure */

void
message_begin(struct message *m, struct spool *sp, int crlf, const char *dir)
{
	memset(m, 0, sizeof(*m));
	m->spool = sp;
	m->fd = sp->fd;
	if (sp->inmem) {
		m->mem = sp->buf;
		m->len = (long long)sp->len;
	} else {
		m->len = sp->written;
	}
	m->crlf = crlf;
	m->dir = dir;
}

/* The message is no longer in memory. */
static void
mem_drop(struct message *m)
{
	free(m->mem_own);
	m->mem_own = NULL;
	m->mem = NULL;
}

int
message_fd(struct message *m)
{
	if (m->mem == NULL)
		return m->fd;
	if (spool_store(m->spool, m->mem, (size_t)m->len) < 0)
		return -1;
	mem_drop(m);
	m->fd = m->spool->fd;   /* not ours: the session's spool */
	m->own = 0;
	return m->fd;
}

ssize_t
message_read(const struct message *m, char *buf, size_t len, long long off)
{
	if (off >= m->len)
		return 0;
	if ((long long)len > m->len - off)
		len = (size_t)(m->len - off);
	if (m->mem != NULL) {
		memcpy(buf, m->mem + off, len);
		return (ssize_t)len;
	}
	for (;;) {
		ssize_t n = pread(m->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

int
message_add_header(struct message *m, const char *line, size_t len)
{
	if (growbuf_reserve(&m->pending, &m->pending_cap, m->pending_len + len + 2, 1024) < 0)
		return -1;
	memcpy(m->pending + m->pending_len, line, len);
	m->pending_len += len;
	if (m->crlf)
		m->pending[m->pending_len++] = '\r';
	m->pending[m->pending_len++] = '\n';
	return 0;
}

/* Append LEN octets of IN from OFF to OUT (at its file offset). */
static int
copy_range(int out, int in, long long off, long long len)
{
	char buf[COPY_BUF];

	while (len > 0) {
		loff_t o = (loff_t)off;
		ssize_t n = copy_file_range(in, &o, out, NULL, (size_t)len, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL))
			break;          /* not here: read and write */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
		len -= n;
	}
	while (len > 0) {
		ssize_t n = pread(in, buf, len < COPY_BUF ? (size_t)len : COPY_BUF, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(out, buf, (size_t)n, NULL) < 0)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

static void
take(struct message *m, int fd, long long len)
{
	mem_drop(m);
	if (m->own)
		close(m->fd);
	m->fd = fd;
	m->own = 1;
	m->len = len;
}

/* The step headers into a new copy in memory: the message, TOP, is in
 * memory and stays small. */
static int
materialise_mem(struct message *m)
{
	size_t top = (size_t)m->top, len = (size_t)m->len;
	char *p;

	if ((p = malloc(len + m->pending_len)) == NULL)
		return -1;
	memcpy(p, m->mem, top);
	memcpy(p + top, m->pending, m->pending_len);
	memcpy(p + top + m->pending_len, m->mem + top, len - top);
	free(m->mem_own);
	m->mem = m->mem_own = p;
	m->len += (long long)m->pending_len;
	m->top += (long long)m->pending_len;
	m->pending_len = 0;
	return 0;
}

int
message_materialise(struct message *m)
{
	int fd;

	if (m->pending_len == 0)
		return 0;
	if (m->mem != NULL && m->len + (long long)m->pending_len <= SPOOL_MEM_MAX)
		return materialise_mem(m);
	if (message_fd(m) < 0)
		return -1;
	if ((fd = spool_tmpfile(m->dir)) < 0)
		return -1;
	if (copy_range(fd, m->fd, 0, m->top) < 0 ||
	    write_all(fd, m->pending, m->pending_len, NULL) < 0 ||
	    copy_range(fd, m->fd, m->top, m->len - m->top) < 0) {
		close(fd);
		return -1;
	}
	take(m, fd, m->len + (long long)m->pending_len);
	m->top += (long long)m->pending_len;
	m->pending_len = 0;
	return 0;
}

struct ar_ranges {
	const char *id;
	long long (*r)[2];      /* allocated at the first match */
	int n, cap, overflow;
};

static int
ar_field(void *arg, long long start, long long end, const char *f, size_t kept, int truncated)
{
	struct ar_ranges *ar = arg;

	switch (ar_match(f, kept, truncated, ar->id)) {
	case AR_NOT_FIELD:
		return 0;
	case AR_OURS:
		if (ar->n == ar->cap) {
			int cap = ar->cap ? ar->cap * 4 : 8;
			long long (*r)[2] = ar->n < AR_RANGES_MAX ? reallocarray(ar->r, (size_t)cap, sizeof(*r)) : NULL;
			if (r == NULL) {
				ar->overflow = 1;
				return 0;
			}
			ar->r = r;
			ar->cap = cap;
		}
		ar->r[ar->n][0] = start;
		ar->r[ar->n][1] = end;
		ar->n++;
		return 1;
	default:
		return 1;
	}
}

/* Find the fields to drop: ranges of the file, in order. */
static int
find_ar(struct message *m, struct ar_ranges *ar)
{
	static struct hdr_scan hs;      /* 2 KiB: not on the stack */
	char buf[COPY_BUF];
	long long off = m->top;

	hdr_scan_init(&hs, off);
	if (m->mem != NULL) {
		hdr_scan_feed(&hs, m->mem + off, (size_t)(m->len - off), ar_field, ar);
		off = m->len;
	}
	while (off < m->len) {
		ssize_t n = pread(m->fd, buf, m->len - off < COPY_BUF ? (size_t)(m->len - off) : COPY_BUF, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
		if (hdr_scan_feed(&hs, buf, (size_t)n, ar_field, ar))
			break;
	}
	hdr_scan_end(&hs, ar_field, ar);
	return 0;
}

/* The message in memory without the N ranges R (in order): a new copy. */
static int
strip_mem(struct message *m, long long (*r)[2], int n)
{
	char *p = malloc((size_t)m->len + 1);
	long long at = 0, o = 0;
	int i;

	if (p == NULL)
		return -1;
	for (i = 0; i <= n; i++) {
		long long end = i < n ? r[i][0] : m->len;
		memcpy(p + o, m->mem + at, (size_t)(end - at));
		o += end - at;
		at = i < n ? r[i][1] : m->len;
	}
	free(m->mem_own);
	m->mem = m->mem_own = p;
	m->len = o;
	return 0;
}

int
message_strip_ar(struct message *m, const char *authserv_id)
{
	struct ar_ranges ar = { authserv_id, NULL, 0, 0, 0 };
	long long (*r)[2], at = 0, removed = 0;
	int fd, i;

	if (find_ar(m, &ar) < 0 || ar.overflow) {
		free(ar.r);
		errno = ar.overflow ? E2BIG : errno;
		return -1;
	}
	if (ar.n == 0)
		return 0;
	r = ar.r;
	if (m->mem != NULL) {
		int rc = strip_mem(m, r, ar.n);
		free(r);
		return rc < 0 ? -1 : ar.n;
	}
	if ((fd = spool_tmpfile(m->dir)) < 0) {
		free(r);
		return -1;
	}
	for (i = 0; i < ar.n; i++) {
		if (copy_range(fd, m->fd, at, r[i][0] - at) < 0)
			goto fail;
		removed += r[i][1] - r[i][0];
		at = r[i][1];
	}
	if (copy_range(fd, m->fd, at, m->len - at) < 0)
		goto fail;
	take(m, fd, m->len - removed);
	free(r);
	return ar.n;
fail:
	close(fd);
	free(r);
	return -1;
}

void
message_replace(struct message *m, int fd, long long len)
{
	take(m, fd, len);
	m->top = 0;
	m->pending_len = 0;
}

void
message_end(struct message *m)
{
	mem_drop(m);
	if (m->own)
		close(m->fd);
	free(m->pending);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
