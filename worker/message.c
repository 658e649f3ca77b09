/* SPDX-License-Identifier: ISC */
/*
 * message.c - the message between data steps (see message.h): a file, the
 * headers steps added that are not in it yet, and the copies that put them
 * in, or that leave out the forged Authentication-Results fields.
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
message_begin(struct message *m, int fd, long long len, int crlf, const char *dir)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->len = len;
	m->crlf = crlf;
	m->dir = dir;
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
	if (m->own)
		close(m->fd);
	m->fd = fd;
	m->own = 1;
	m->len = len;
}

int
message_materialise(struct message *m)
{
	int fd;

	if (m->pending_len == 0)
		return 0;
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
	if (m->own)
		close(m->fd);
	free(m->pending);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
