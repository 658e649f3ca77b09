/* SPDX-License-Identifier: ISC */
/*
 * netio.c - buffered, deadline-bounded I/O on the client socket.
 *
 * The socket is non-blocking; every wait is a ppoll() that lets through only
 * the signals in waitmask, so a shutdown request interrupts a wait at once
 * and nothing else does.  With TLS on, the same buffers sit above GnuTLS.
 */
#include "autoconf.h"
#include "netio.h"
#include "../common/deadline.h"
#include "../common/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gnutls/gnutls.h>

void
netio_init(struct netio *io, int fd, const sigset_t *waitmask, volatile int *abort_flag)
{
	io->fd = fd;
	io->tls = NULL;
	io->rstart = io->rend = 0;
	io->wlen = 0;
	io->eof = 0;
	io->toolong = 0;
	io->werror = 0;
	io->bulk = 0;
	io->drained = 0;
	io->write_timeout = 300;
	io->waitmask = waitmask;
	io->abort_flag = abort_flag;
	io->idle_pending = NULL;
	io->idle_run = NULL;
}

void
netio_set_tls(struct netio *io, void *session)
{
	io->tls = session;
}

void *
netio_tls(const struct netio *io)
{
	return io->tls;
}

void
netio_set_bulk(struct netio *io, int on)
{
	io->bulk = on;
}

void
netio_set_write_timeout(struct netio *io, int seconds)
{
	io->write_timeout = seconds;
}

/* The earlier of DEADLINE and MS milliseconds from now. */
static struct timespec
earlier_ms(const struct timespec *deadline, long ms)
{
	struct timespec t = deadline_in_ms(ms);

	if (t.tv_sec > deadline->tv_sec ||
	    (t.tv_sec == deadline->tv_sec && t.tv_nsec > deadline->tv_nsec))
		return *deadline;
	return t;
}

/* Wait until FD is ready for EVENTS or the deadline passes; an abortable
 * wait also ends when the worker is told to close sessions.  Work held
 * for a quiet moment (netio_set_idle) is done once the client has kept us
 * waiting for idle_ms. */
static int
wait_fd(struct netio *io, short events, const struct timespec *deadline, int abortable)
{
	int held = io->idle_pending != NULL && io->idle_pending();
	struct timespec until = held ? earlier_ms(deadline, io->idle_ms) : *deadline;

	for (;;) {
		struct timespec left;
		struct pollfd pfd = { io->fd, events, 0 };
		int n;

		if (abortable && io->abort_flag != NULL && *io->abort_flag)
			return NETIO_ABORT;
		n = deadline_left(&until, &left) < 0 ? 0 : ppoll(&pfd, 1, &left, io->waitmask);
		if (n > 0)
			return NETIO_OK;
		if (n == 0 && held) {
			io->idle_run();
			held = 0;
			until = *deadline;
			continue;
		}
		if (n == 0)
			return NETIO_TIMEOUT;
		if (errno != EINTR)
			return NETIO_ERROR;
	}
}

void
netio_set_idle(struct netio *io, int ms, int (*pending)(void), void (*run)(void))
{
	io->idle_ms = ms;
	io->idle_pending = pending;
	io->idle_run = run;
}

/* What one read or write on the socket got when it moved nothing. */
enum { IO_AGAIN = -1, IO_FAIL = -2 };

/* One read, through TLS when it is on: the octets read, 0 at the end of
 * the connection, IO_AGAIN or IO_FAIL. */
static ssize_t
raw_recv(struct netio *io, char *buf, size_t len)
{
	for (;;) {
		ssize_t n;

		if (io->tls != NULL) {
			n = gnutls_record_recv(io->tls, buf, len);
			if (n >= 0)
				return n;
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			/* includes renegotiation requests */
			return n == GNUTLS_E_AGAIN ? IO_AGAIN : IO_FAIL;
		}
		n = recv(io->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_FAIL;
	}
}

/* One write, through TLS when it is on: the octets written, IO_AGAIN or
 * IO_FAIL. */
static ssize_t
raw_send(struct netio *io, const char *buf, size_t len)
{
	for (;;) {
		ssize_t n;

		if (io->tls != NULL) {
			n = gnutls_record_send(io->tls, buf, len);
			if (n >= 0)
				return n;
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			return n == GNUTLS_E_AGAIN ? IO_AGAIN : IO_FAIL;
		}
		n = send(io->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_AGAIN : IO_FAIL;
	}
}

/* Read what is available into rbuf (which has room).  Before it waits for
 * the client, it sends the replies queued so far: the client may be waiting
 * for them (RFC 2920 3.2).  Input that is already there is read first, so a
 * pipelined group gets its replies in one write; but when the last read
 * drained the socket (plaintext: it returned less than there was room
 * for), the replies go out at once, without a read that would only say
 * EAGAIN (a command of a pipelined group arriving in the meantime is read
 * after the wait, which then returns at once). */
static int
fill(struct netio *io, const struct timespec *deadline)
{
	int wait_first = io->wlen > 0 && io->drained && io->tls == NULL;

	if (io->eof)
		return NETIO_EOF;
	if (io->rstart == io->rend) {
		io->rstart = io->rend = 0;
	} else if (io->rstart > 0 && io->rend == sizeof(io->rbuf)) {
		memmove(io->rbuf, io->rbuf + io->rstart, io->rend - io->rstart);
		io->rend -= io->rstart;
		io->rstart = 0;
	}
	for (;;) {
		size_t room = sizeof(io->rbuf) - io->rend;
		int rc, one = 1, flushed;

		if (!wait_first) {
			ssize_t n = raw_recv(io, io->rbuf + io->rend, room);
			if (n > 0) {
				io->rend += (size_t)n;
				io->drained = (size_t)n < room;
				return NETIO_OK;
			}
			if (n == 0) {
				io->eof = 1;
				return NETIO_EOF;
			}
			if (n == IO_FAIL)
				return NETIO_ERROR;
		}
		wait_first = 0;
		flushed = io->wlen > 0;
		if (flushed && netio_flush(io, deadline) < 0)
			return NETIO_ERROR;
		/* While a message streams in, we reply to nothing, so our ACKs
		 * are not carried by replies: send them now, not after the
		 * delayed-ACK timer, or a client whose last small segment waits for
		 * one (Nagle) stalls for 40 ms.  Commands need none of this: the
		 * reply carries the ACK, and extra ACK packets cost CPU.  Nor
		 * does the wait right after a reply went out (the 354 that
		 * starts the message): it carried the ACK of all we had. */
		if (io->bulk && !flushed)
			setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		if ((rc = wait_fd(io, POLLIN, deadline, 1)) != NETIO_OK)
			return rc;
	}
}

int
netio_getline(struct netio *io, char *line, size_t max, size_t *len,
    const struct timespec *deadline)
{
	size_t scanned = 0;

	for (;;) {
		char *start = io->rbuf + io->rstart;
		size_t avail = io->rend - io->rstart;
		char *lf = memchr(start + scanned, '\n', avail - scanned);
		int rc;

		if (lf != NULL) {
			size_t n = (size_t)(lf - start);       /* without LF */
			io->rstart += n + 1;
			if (io->toolong || n + 1 > max) {
				io->toolong = 0;
				return NETIO_TOOLONG;
			}
			if (n > 0 && start[n - 1] == '\r')
				n--;
			memcpy(line, start, n);
			line[n] = '\0';
			*len = n;
			return NETIO_OK;
		}
		scanned = avail;
		if (avail >= max) {
			/* Too long already: drop what we have, keep looking for
			 * LF (across calls: a caller may wait in slices). */
			io->toolong = 1;
			io->rstart = io->rend;
			scanned = 0;
		} else if (io->rend == sizeof(io->rbuf) && io->rstart > 0) {
			memmove(io->rbuf, start, avail);
			io->rstart = 0;
			io->rend = avail;
		}
		if ((rc = fill(io, deadline)) != NETIO_OK)
			return rc;
	}
}

int
netio_peek(struct netio *io, const char **p, size_t *len,
    const struct timespec *deadline)
{
	if (io->rstart == io->rend) {
		int rc = fill(io, deadline);
		if (rc != NETIO_OK)
			return rc;
	}
	*p = io->rbuf + io->rstart;
	*len = io->rend - io->rstart;
	return NETIO_OK;
}

void
netio_consume(struct netio *io, size_t n)
{
	if (n > io->rend - io->rstart)
		fatalx("netio_consume of %zu octets with %zu buffered", n, io->rend - io->rstart);
	io->rstart += n;
}

size_t
netio_pending(const struct netio *io)
{
	size_t n = io->rend - io->rstart;

	if (io->tls != NULL)
		n += gnutls_record_check_pending(io->tls);
	return n;
}

void
netio_discard_input(struct netio *io)
{
	io->rstart = io->rend = 0;
	io->toolong = 0;
}

void
netio_wipe_consumed(struct netio *io)
{
	explicit_bzero(io->rbuf, io->rstart);
	explicit_bzero(io->rbuf + io->rend, sizeof(io->rbuf) - io->rend);
}

int
netio_flush(struct netio *io, const struct timespec *deadline)
{
	size_t off = 0;

	if (io->werror)
		return NETIO_ERROR;
	while (off < io->wlen) {
		ssize_t n = raw_send(io, io->wbuf + off, io->wlen - off);
		int rc;

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (n == IO_FAIL)
			goto error;
		/* Not abortable: the last replies (421) must still go out. */
		if ((rc = wait_fd(io, POLLOUT, deadline, 0)) != NETIO_OK)
			goto error;
	}
	io->wlen = 0;
	return NETIO_OK;
error:
	io->werror = 1;
	io->wlen = 0;
	return NETIO_ERROR;
}

void
netio_write(struct netio *io, const char *data, size_t len)
{
	while (len > 0 && !io->werror) {
		size_t room = sizeof(io->wbuf) - io->wlen, n;
		if (room == 0) {
			struct timespec d = deadline_in(io->write_timeout);
			netio_flush(io, &d);
			continue;
		}
		n = len < room ? len : room;
		memcpy(io->wbuf + io->wlen, data, n);
		io->wlen += n;
		data += n;
		len -= n;
	}
}
