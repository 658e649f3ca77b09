/* SPDX-License-Identifier: ISC */
/*
 * growbuf.h - the one way to grow a heap buffer that text is appended to
 * (recipient lists, pending headers, requests): doubling, so appending N
 * bytes in pieces costs O(N).
 */
#ifndef POSTERN_GROWBUF_H
#define POSTERN_GROWBUF_H

#include <stddef.h>

/* Make *BUF (*CAP bytes; NULL and 0 at first) hold at least NEED bytes, at
 * least FIRST at its first allocation, doubling.  Returns 0, or -1 with
 * errno ENOMEM and *BUF, *CAP as they were. */
int growbuf_reserve(char **buf, size_t *cap, size_t need, size_t first);

#endif
