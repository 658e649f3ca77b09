/* SPDX-License-Identifier: ISC */
/*
 * log.h - one line per event to syslog (facility mail), each line of a
 * session prefixed with its session id; mirrored to stderr with -d.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>
#include <syslog.h>

void log_open(const char *ident, int to_stderr, int debug);
/* The session id put in front of every line; NULL or "" for none. */
void log_set_session(const char *id);
/* Is debug logging on (-d)?  To skip work for lines nobody will see. */
int log_debugging(void);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)    log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)

/* An impossible state (a bug, never the peer's doing): log it at LOG_CRIT
 * and abort, as OpenSMTPD's fatalx() does, rather than go on in a state
 * nothing was written for. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Copy untrusted text (from a client or a hook) for a log line: spaces,
 * '[', ']', '\\', controls, DEL and 8-bit bytes become \xNN, so that the
 * text is one field that cannot forge another line's pattern (fail2ban).
 * The result is truncated to fit dst.  The one escaping path for logs. */
void log_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen);
/* The same for a C string, into one of LOG_ESC_RING static buffers: for up
 * to that many arguments of one log call.  Truncated to LOG_ESC_MAX - 1. */
#define LOG_ESC_RING 4
#define LOG_ESC_MAX  1200
const char *log_esc(const char *src);

#endif
