/* SPDX-License-Identifier: ISC */
/*
 * conn.c - I/O with the downstream server for postern-forward.  The socket
 * is non-blocking; each read and write waits with poll() up to a deadline,
 * so a server that stalls costs a timeout, never a hang.  TLS is GnuTLS,
 * started by STARTTLS, verified against --tls-ca when given.
 */
#include "conn.h"
#include "../../common/deadline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void
conn_init(struct conn *c)
{
	c->fd = -1;
	c->tls = NULL;
	c->inlen = 0;
	c->why[0] = '\0';
}

/* Wait for EVENTS until the deadline: 0, or CONN_IO / CONN_TIMEOUT. */
static int
wait_fd(struct conn *c, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { c->fd, events, 0 };
	long left;
	int rc;

	for (;;) {
		if ((left = deadline_ms_left(deadline)) <= 0) {
			snprintf(c->why, sizeof(c->why), "timed out");
			return CONN_TIMEOUT;
		}
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "poll: %s", strerror(errno));
			return CONN_IO;
		}
	}
}

/* A GnuTLS record call's result *N as send() or recv() would give it: -1
 * with EAGAIN for "again"; CONN_IO (with the reason) for a TLS error. */
static int
tls_status(struct conn *c, ssize_t *n)
{
	if (*n == GNUTLS_E_AGAIN || *n == GNUTLS_E_INTERRUPTED) {
		*n = -1;
		errno = EAGAIN;
	} else if (*n < 0) {
		snprintf(c->why, sizeof(c->why), "TLS: %s", gnutls_strerror((int)*n));
		return CONN_IO;
	}
	return 0;
}

static int
parse_inet(const char *hostport, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	size_t hl;
	long port;
	char *end;

	if (colon == NULL || (hl = (size_t)(colon - hostport)) == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		*len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*s6);
	} else {
		return -1;
	}
	return 0;
}

int
conn_open(struct conn *c, const char *spec, int timeout)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int rc, err = 0;
	socklen_t elen = sizeof(err);

	memset(&ss, 0, sizeof(ss));
	c->inlen = 0;
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		if (strlen(spec + 5) >= sizeof(su->sun_path)) {
			snprintf(c->why, sizeof(c->why), "socket path too long");
			return CONN_IO;
		}
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, spec + 5, strlen(spec + 5) + 1);
		len = sizeof(*su);
	} else if (strncmp(spec, "inet:", 5) != 0 || parse_inet(spec + 5, &ss, &len) < 0) {
		snprintf(c->why, sizeof(c->why), "expected inet:ADDRESS:PORT or unix:/path");
		return CONN_IO;
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why), "socket: %s", strerror(errno));
		return CONN_IO;
	}
	rc = connect(c->fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct timespec deadline = deadline_in(timeout);
		if ((rc = wait_fd(c, POLLOUT, &deadline)) < 0) {
			conn_close(c);
			return rc;
		}
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		rc = err ? -1 : 0;
		errno = err;
	}
	if (rc < 0) {
		snprintf(c->why, sizeof(c->why), "cannot connect: %s", strerror(errno));
		conn_close(c);
		return CONN_IO;
	}
	/*
	 * Every write is a whole command, BDAT chunk or piece of the message:
	 * with Nagle on, the short tail of one write waited for the server's
	 * delayed ACK of the one before (BDAT's command line, then its chunk;
	 * the pieces of a long message), 40 ms each time.  (Harmless on a
	 * unix: socket, where it fails.)
	 */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return CONN_OK;
}

int
conn_write(struct conn *c, const char *buf, size_t n, int timeout)
{
	struct timespec deadline = deadline_in(timeout);
	size_t off = 0;
	int rc;

	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why), "not connected");
		return CONN_IO;
	}
	while (off < n) {
		ssize_t w;
		if (c->tls != NULL) {
			w = gnutls_record_send(c->tls, buf + off, n - off);
			if ((rc = tls_status(c, &w)) < 0)
				return rc;
		} else {
			w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL);
		}
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "write: %s", strerror(errno));
			return CONN_IO;
		}
		if ((rc = wait_fd(c, POLLOUT, &deadline)) < 0)
			return rc;
	}
	return CONN_OK;
}

int
conn_command(struct conn *c, int timeout, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		snprintf(c->why, sizeof(c->why), "command too long");
		return CONN_IO;
	}
	if (strcspn(line, "\r\n") != (size_t)n) {
		/* never a second command smuggled in a value */
		snprintf(c->why, sizeof(c->why), "a line break in a command's argument: not sent");
		return CONN_IO;
	}
	memcpy(line + n, "\r\n", 2);
	return conn_write(c, line, (size_t)n + 2, timeout);
}

/* Read what is there (after waiting up to the deadline): > 0, or an error. */
static int
read_some(struct conn *c, const struct timespec *deadline)
{
	ssize_t n;
	int rc;

	if (c->inlen >= sizeof(c->in)) {
		snprintf(c->why, sizeof(c->why), "reply too long");
		return CONN_GARBAGE;
	}
	for (;;) {
		if (c->tls != NULL) {
			n = gnutls_record_recv(c->tls, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if ((rc = tls_status(c, &n)) < 0)
				return rc;
		} else {
			n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		}
		if (n > 0) {
			c->inlen += (size_t)n;
			return (int)n;
		}
		if (n == 0) {
			snprintf(c->why, sizeof(c->why), "connection closed by the server");
			return CONN_IO;
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "read: %s", strerror(errno));
			return CONN_IO;
		}
		if ((rc = wait_fd(c, POLLIN, deadline)) < 0)
			return rc;
	}
}

int
conn_reply(struct conn *c, struct reply *r, int timeout)
{
	struct timespec deadline = deadline_in(timeout);
	enum reply_err e;
	int rc;

	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why), "not connected");
		return CONN_IO;
	}
	for (;;) {
		e = reply_parse(c->in, c->inlen, r);
		if (e == REPLY_OK) {
			memmove(c->in, c->in + r->consumed, c->inlen - r->consumed);
			c->inlen -= r->consumed;
			return CONN_OK;
		}
		if (e != REPLY_INCOMPLETE) {
			snprintf(c->why, sizeof(c->why), "the server's answer makes no sense: %s",
			    reply_strerror(e));
			return CONN_GARBAGE;
		}
		if ((rc = read_some(c, &deadline)) < 0)
			return rc;
	}
}

int
conn_starttls(struct conn *c, gnutls_certificate_credentials_t cred, const char *name,
    int verify, int timeout)
{
	struct timespec deadline = deadline_in(timeout);
	int rc;

	if (c->inlen > 0) {     /* bytes after the 220: an injection attempt */
		snprintf(c->why, sizeof(c->why), "data after the STARTTLS reply");
		return CONN_GARBAGE;
	}
	if ((rc = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0 ||
	    (rc = gnutls_set_default_priority(c->tls)) < 0 ||
	    (rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred)) < 0) {
		snprintf(c->why, sizeof(c->why), "TLS set-up: %s", gnutls_strerror(rc));
		return CONN_IO;
	}
	if (name != NULL && name[0] != '\0') {
		struct in6_addr a;
		if (inet_pton(AF_INET, name, &a) != 1 && inet_pton(AF_INET6, name, &a) != 1)
			gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, name, strlen(name));
		if (verify)
			gnutls_session_set_verify_cert(c->tls, name, 0);
	}
	gnutls_transport_set_int(c->tls, c->fd);
	gnutls_handshake_set_timeout(c->tls, 0);
	for (;;) {
		rc = gnutls_handshake(c->tls);
		if (rc == GNUTLS_E_SUCCESS)
			return CONN_OK;
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
			if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
				gnutls_datum_t out;
				unsigned st = gnutls_session_get_verify_cert_status(c->tls);
				if (gnutls_certificate_verification_status_print(st,
				    GNUTLS_CRT_X509, &out, 0) == 0) {
					snprintf(c->why, sizeof(c->why), "certificate not trusted: %s", out.data);
					gnutls_free(out.data);
					return CONN_IO;
				}
			}
			snprintf(c->why, sizeof(c->why), "TLS handshake: %s", gnutls_strerror(rc));
			return CONN_IO;
		}
		if ((rc = wait_fd(c, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN,
		    &deadline)) < 0)
			return rc;
	}
}

int
conn_gone(struct conn *c)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };

	if (c->fd < 0)
		return 1;
	if (c->inlen > 0 || (c->tls != NULL && gnutls_record_check_pending(c->tls) > 0))
		return 1;
	return poll(&pfd, 1, 0) != 0;
}

void
conn_close(struct conn *c)
{
	if (c->tls != NULL) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->inlen = 0;
}
