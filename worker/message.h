/* SPDX-License-Identifier: ISC */
/*
 * message.h - the message as the data steps see it, one after the other
 * (DESIGN.md Part 2, "Data stage = a pipeline over the message").
 *
 * The bytes are in memory (a message that the spool kept in its buffer,
 * or a copy of it) or in a file: the session's spool at first, later a
 * copy.  A message in memory is written to the spool file only when a step
 * needs a descriptor (message_fd: an exec step's stdin); a persistent step
 * or a milter reads it where it is (message_read).
 * Headers that steps add wait in a buffer and are written into a new copy
 * only when the next step needs to read the message ("materialised"), so
 * a pipeline that adds nothing copies nothing.  Step headers go at the top,
 * above our Received:, in the order the steps ran: TOP is the offset where
 * the step headers written so far end.  A step that rewrites the message
 * (a milter replacing headers or the body) hands a new file to
 * message_replace().
 */
#ifndef POSTERN_MESSAGE_H
#define POSTERN_MESSAGE_H

#include <stddef.h>
#include <sys/types.h>

struct spool;

struct message {
	const char *mem;        /* the message in memory, or NULL: it is in fd */
	char *mem_own;          /* mem when it is a copy made here (freed here) */
	struct spool *spool;    /* where mem goes when a step needs a file */
	int fd;                 /* the message as the last step left it (mem NULL) */
	int own;                /* fd was made here: closed when replaced */
	long long len;          /* octets in fd */
	long long top;          /* end of the step headers in fd (our Received: starts here) */
	char *pending;          /* step headers not yet in fd, line ends included */
	size_t pending_len, pending_cap;
	int crlf;               /* line ends: CR LF (data_crlf) or LF */
	const char *dir;        /* where copies are made (the spool directory) */
};

/* The message in the session's spool SP (its buffer or its file, not
 * owned), after spool_finish. */
void message_begin(struct message *, struct spool *sp, int crlf, const char *dir);
/* A descriptor that holds the message (the memory written to the spool
 * file first, if the message is in memory), offset 0.  -1 on an error. */
int message_fd(struct message *);
/* Up to LEN octets of the message from offset OFF into BUF: the number
 * read (0 at the end), or -1 on an error. */
ssize_t message_read(const struct message *, char *buf, size_t len, long long off);
/* Queue a header (one line, checked by the caller, no line end). */
int message_add_header(struct message *, const char *line, size_t len);
/* Write the queued headers into a new copy, if there are any.  0 or -1. */
int message_materialise(struct message *);
/* Remove the Authentication-Results fields with AUTHSERV_ID from the
 * header section as received (below TOP).  Returns the number removed, or
 * -1 on an I/O error. */
int message_strip_ar(struct message *, const char *authserv_id);
/* The message is now FD (taken over), LEN octets, with no step headers
 * pending (they are in it). */
void message_replace(struct message *, int fd, long long len);
void message_end(struct message *);

#endif
