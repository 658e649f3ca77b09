/* SPDX-License-Identifier: ISC */
/*
 * spool.c - one anonymous spool file per session (O_TMPFILE, or a file
 * unlinked at once where that is not supported), truncated and reused for
 * each message.  It is never linked into the file system, so a crash leaves
 * nothing behind.  A message that fits in the write buffer (most do) never
 * reaches the file unless a data step asks for a file (spool_store).
 * At the end of a session the worker keeps the file for its next session
 * (creating an inode per connection cost more system time than the rest
 * of a 100 KiB message's spooling), unless a program was handed its
 * descriptor (an exec data step's stdin): that program, or something it
 * left behind, must not see the next session.  The kept file is not
 * emptied (freeing its blocks to allocate them again cost as much as
 * creating it): the next message overwrites it and spool_finish cuts off
 * what is left, as between messages of a session; only this worker holds
 * it, and it vanishes when the worker exits.
 */
#include "autoconf.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
spool_tmpfile(const char *dir)
{
	int fd;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
#endif
	{
		char path[4096];
		if (snprintf(path, sizeof(path), "%s/postern.XXXXXX", dir) >= (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -1;
		unlink(path);
	}
	return fd;
}

static char buffer[SPOOL_MEM_MAX]; /* one session at a time per worker */
static int kept_fd = -1;         /* the last session's file */
static long long kept_size;      /* its size */
static int shared;               /* a child was given a file: which one */
static dev_t shared_dev;
static ino_t shared_ino;

int
spool_open(struct spool *sp, const char *dir)
{
	sp->len = 0;
	sp->written = 0;
	sp->file_size = 0;
	sp->error = 0;
	sp->buf = buffer;
	if (kept_fd >= 0) {
		sp->fd = kept_fd;
		sp->file_size = kept_size;
		kept_fd = -1;
		return 0;
	}
	sp->fd = spool_tmpfile(dir);
	return sp->fd < 0 ? -1 : 0;
}

void
spool_shared(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		shared = -1;    /* unknown: keep nothing */
		return;
	}
	shared = 1;
	shared_dev = st.st_dev;
	shared_ino = st.st_ino;
}

/* Was SP's file (or, when that cannot be told, any file) handed to a
 * child in this session? */
static int
was_shared(const struct spool *sp)
{
	struct stat st;

	if (shared == 0)
		return 0;
	if (shared < 0 || fstat(sp->fd, &st) < 0)
		return 1;
	return st.st_dev == shared_dev && st.st_ino == shared_ino;
}

/* The next message overwrites the file from the start (writes go by
 * offset: nothing to rewind); spool_finish cuts off what is left of a
 * longer one (one ftruncate only when it shrinks). */
int
spool_reset(struct spool *sp)
{
	sp->len = 0;
	sp->error = 0;
	sp->written = 0;
	sp->inmem = 0;
	return 0;
}

/* Write LEN octets at DATA to the file at offset OFF.  0, or -1 with errno
 * set; *DONE gets how many went out. */
static int
pwrite_all(int fd, const char *data, size_t len, long long off, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t w = pwrite(fd, data + *done, len - *done, (off_t)(off + (long long)*done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		*done += (size_t)w;
	}
	return 0;
}

/* Write LEN octets at DATA to the file after what is there, unless an
 * earlier write failed. */
static void
put(struct spool *sp, const char *data, size_t len)
{
	size_t n;

	if (sp->error != 0)
		return;
	if (pwrite_all(sp->fd, data, len, sp->written, &n) < 0)
		sp->error = errno;
	sp->written += (long long)n;
}

static void
drain(struct spool *sp)
{
	put(sp, sp->buf, sp->len);
	sp->len = 0;
}

void
spool_write(struct spool *sp, const char *data, size_t len)
{
	if (sp->error)
		return;
	if (len >= SPOOL_MEM_MAX) {
		drain(sp);
		put(sp, data, len);     /* straight from the caller's buffer */
		return;
	}
	if (sp->len + len > SPOOL_MEM_MAX)
		drain(sp);
	memcpy(sp->buf + sp->len, data, len);
	sp->len += len;
}

/* The file's size is now WRITTEN; rewound for a reader that shares the
 * descriptor's offset (an exec step's stdin). */
static int
file_done(struct spool *sp)
{
	if (sp->file_size > sp->written) {
		if (ftruncate(sp->fd, sp->written) < 0)
			return -1;
	}
	sp->file_size = sp->written;
	if (lseek(sp->fd, 0, SEEK_SET) < 0)
		return -1;
	return 0;
}

int
spool_finish(struct spool *sp)
{
	if (sp->error == 0 && sp->written == 0) {
		sp->inmem = 1;          /* all of it in buf: no system call */
		return 0;
	}
	drain(sp);
	if (sp->error) {
		errno = sp->error;
		return -1;
	}
	return file_done(sp);
}

int
spool_store(struct spool *sp, const char *data, size_t len)
{
	size_t n;

	if (pwrite_all(sp->fd, data, len, 0, &n) < 0)
		return -1;
	sp->written = (long long)len;
	sp->inmem = 0;
	return file_done(sp);
}

void
spool_close(struct spool *sp)
{
	if (sp->fd < 0)
		return;
	if (kept_fd < 0 && !was_shared(sp) && sp->error == 0) {
		kept_fd = sp->fd;
		kept_size = sp->written > sp->file_size ? sp->written : sp->file_size;
	} else {
		close(sp->fd);
	}
	shared = 0;
	sp->fd = -1;
}
