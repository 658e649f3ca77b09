/* SPDX-License-Identifier: ISC */
/*
 * metricsd.c - the metrics process (metricsd.h): a deliberately small HTTP
 * server.  One connection at a time, a 4 KiB request head read within
 * REQUEST_DEADLINE_MS, `GET /metrics` (or `/`) answered with Prometheus
 * text, anything else with 404/405/400, then the connection is closed.  A
 * scrape every few seconds is all it has to carry; a client that stalls
 * only delays the next scrape by the deadline.
 */
#include "autoconf.h"
#include "metricsd.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/scoreboard.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX             4096
#define REQUEST_DEADLINE_MS     3000
#define BODY_MAX                (1024 * 1024)

/* Does LINE[0..LEN) start with WORD followed by a space? */
static int
starts(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len > n && memcmp(line, word, n) == 0 && line[n] == ' ';
}

enum http_parse
http_parse_request(const char *buf, size_t len, char *path, size_t pathcap)
{
	const char *eol = memchr(buf, '\n', len), *sp, *target;
	size_t linelen, tlen;
	enum http_parse kind;

	if (eol == NULL)
		return len >= REQUEST_MAX ? HTTP_BAD : HTTP_INCOMPLETE;
	/* the head ends at the first empty line (CRLF CRLF or LF LF) */
	if (memmem(buf, len, "\r\n\r\n", 4) == NULL && memmem(buf, len, "\n\n", 2) == NULL)
		return len >= REQUEST_MAX ? HTTP_BAD : HTTP_INCOMPLETE;
	linelen = (size_t)(eol - buf);
	if (linelen > 0 && buf[linelen - 1] == '\r')
		linelen--;
	if (starts(buf, linelen, "GET"))
		kind = HTTP_GET;
	else if (starts(buf, linelen, "HEAD"))
		kind = HTTP_HEAD;
	else
		kind = HTTP_BAD_METHOD;
	target = memchr(buf, ' ', linelen);
	if (target == NULL)
		return HTTP_BAD;
	target++;
	sp = memchr(target, ' ', linelen - (size_t)(target - buf));
	if (sp == NULL || (size_t)(buf + linelen - sp) != 9 ||
	    (memcmp(sp, " HTTP/1.0", 9) != 0 && memcmp(sp, " HTTP/1.1", 9) != 0))
		return HTTP_BAD;
	if (kind == HTTP_BAD_METHOD)
		return kind;
	tlen = (size_t)(sp - target);
	const char *q = memchr(target, '?', tlen);
	if (q != NULL)
		tlen = (size_t)(q - target);
	if (tlen == 0 || tlen >= pathcap || target[0] != '/')
		return HTTP_BAD;
	memcpy(path, target, tlen);
	path[tlen] = '\0';
	return kind;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Read the request head within the deadline; the parse result. */
static enum http_parse
read_request(int fd, char *path, size_t pathcap)
{
	char buf[REQUEST_MAX];
	size_t len = 0;
	struct timespec t0;
	enum http_parse r = HTTP_INCOMPLETE;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (r == HTTP_INCOMPLETE) {
		long left = REQUEST_DEADLINE_MS - ms_since(&t0);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return HTTP_BAD;
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			return HTTP_BAD;
		len += (size_t)n;
		r = http_parse_request(buf, len, path, pathcap);
	}
	return r;
}

/* Write all of P within the deadline; the socket is non-blocking. */
static void
write_all(int fd, const char *p, size_t n)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n > 0) {
		long left = REQUEST_DEADLINE_MS - ms_since(&t0);
		struct pollfd pf = { .fd = fd, .events = POLLOUT };

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
respond(int fd, const char *status, const char *type, const char *body, size_t len,
    int head_only)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr), "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, type, len);

	write_all(fd, hdr, (size_t)n);
	if (!head_only)
		write_all(fd, body, len);
}

static void
pool_state(const struct scoreboard *sb, int nslots, int max_workers, struct metrics_pool *p)
{
	p->busy = p->idle = 0;
	for (int i = 0; i < nslots; i++) {
		enum slot_state st = scoreboard_get(sb, i);
		if (st == SLOT_BUSY)
			p->busy++;
		else if (st == SLOT_IDLE)
			p->idle++;
	}
	p->stress = p->idle == 0 && p->busy >= max_workers;
}

static void
serve_one(int fd, const struct metrics *m, const struct scoreboard *sb, int nslots,
    int max_workers, char *body)
{
	char path[256];
	enum http_parse r = read_request(fd, path, sizeof(path));
	struct metrics_pool pool;
	size_t len;

	if (r == HTTP_BAD) {
		respond(fd, "400 Bad Request", "text/plain", "bad request\n", 12, 0);
		return;
	}
	if (r == HTTP_BAD_METHOD) {
		respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9, 0);
		return;
	}
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0) {
		respond(fd, "404 Not Found", "text/plain", "try /metrics\n", 13, r == HTTP_HEAD);
		return;
	}
	pool_state(sb, nslots, max_workers, &pool);
	len = metrics_render(m, &pool, body, BODY_MAX);
	if (len == 0) {
		log_err("metrics: the rendered text is larger than %d bytes", BODY_MAX);
		respond(fd, "500 Internal Server Error", "text/plain", "too large\n", 10, 0);
		return;
	}
	respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len,
	    r == HTTP_HEAD);
}

void
metricsd_run(int lfd, const struct metrics *m, const struct scoreboard *sb,
    int nslots, int max_workers, volatile sig_atomic_t *stop)
{
	char *body = malloc(BODY_MAX);

	if (body == NULL) {
		log_err("metrics: out of memory");
		return;
	}
	while (!*stop) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 1000) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(fd, m, sb, nslots, max_workers, body);
		close(fd);
	}
	free(body);
}
