/* SPDX-License-Identifier: ISC */
/*
 * metricsd.h - the metrics process: an unprivileged child of the master
 * that answers `GET /metrics` on the `[metrics] listen` socket with the
 * Prometheus text of the shared counters (common/metrics.h).  It never
 * writes a counter and the master never reads one.
 */
#ifndef POSTERN_METRICSD_H
#define POSTERN_METRICSD_H

#include <signal.h>
#include <stddef.h>

struct metrics;
struct scoreboard;

enum http_parse {
	HTTP_INCOMPLETE,        /* no blank line yet: read more */
	HTTP_GET,               /* a GET request; PATH holds its target */
	HTTP_BAD_METHOD,        /* a well-formed request line, not GET or HEAD */
	HTTP_HEAD,              /* HEAD: headers only */
	HTTP_BAD,               /* not HTTP/1.x, or a target too long */
};

/* Parse the request head in BUF[0..LEN): request line and header lines up
 * to the blank line.  Pure; PATH gets the target (query string removed). */
enum http_parse http_parse_request(const char *buf, size_t len, char *path,
    size_t pathcap);

/* Serve LISTEN_FD until *STOP is set: one connection at a time, each with
 * a deadline of a few seconds and a bounded request.  NSLOTS bounds the
 * scoreboard read; MAX_WORKERS says when the pool is exhausted. */
void metricsd_run(int listen_fd, const struct metrics *, const struct scoreboard *,
    int nslots, int max_workers, volatile sig_atomic_t *stop);

#endif
