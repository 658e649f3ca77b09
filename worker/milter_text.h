/* SPDX-License-Identifier: ISC */
/*
 * milter_text.h - the message and the envelope as a milter step sees and
 * edits them (milter_text.c).
 */
#ifndef POSTERN_MILTER_TEXT_H
#define POSTERN_MILTER_TEXT_H

#include <stddef.h>

struct session;
struct message;
struct milter_edits;

/* The message of M as CR LF bytes (the spool may keep LF line ends), in a
 * new buffer of *LEN octets; NULL (errno set) on failure. */
char *milter_text_read(const struct message *m, size_t *len);
/* Apply the edits ED that milter NAME asked for to the message (MSG, LEN:
 * what milter_text_read gave) and to the session's envelope: 0, or -1
 * (errno set). */
int milter_text_apply(struct session *s, const char *name, const struct milter_edits *ed,
    struct message *m, const char *msg, size_t len);

#endif
