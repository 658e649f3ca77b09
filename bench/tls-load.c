/* SPDX-License-Identifier: ISC */
/*
 * tls-load.c - a TLS SMTP load client for bench/ (not a test): THREADS
 * threads, each sending messages of SIZE bytes over a NEW connection per
 * message (STARTTLS, or implicit TLS with -i), reusing nothing: no TCP
 * connection, no TLS session, so that every message costs the server a full
 * handshake.  Written in C with GnuTLS so that the client, not Python, is no
 * longer the limit on a 2-core machine (bench/RESULTS.md, issue #18).
 *
 *   tls-load [-i] [-t THREADS] [-n MESSAGES] [-s SIZE] PORT
 *
 * Prints one line: "messages=N errors=E seconds=S" (loopback only:
 * 127.0.0.1).  Certificates are not verified: the servers are local.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int port, implicit_tls, nthreads = 4, nmessages = 200, msgsize = 102400;
static atomic_int started, errors;
static char *message;           /* the DATA text, dot-terminated */
static size_t message_len;

struct conn {
	int fd;
	gnutls_session_t tls;           /* NULL before the handshake */
	char buf[4096];
	size_t len;
};

static ssize_t
conn_read(struct conn *c, char *p, size_t n)
{
	if (c->tls == NULL)
		return read(c->fd, p, n);
	ssize_t r;
	do
		r = gnutls_record_recv(c->tls, p, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r < 0 ? -1 : r;
}

static int
conn_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->tls == NULL ? write(c->fd, p, n) :
		    gnutls_record_send(c->tls, p, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED ||
		    (w < 0 && errno == EINTR))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one whole reply (multi-line ones too); returns its code or -1. */
static int
reply(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			size_t linelen = (size_t)(nl - c->buf) + 1;
			int code = atoi(c->buf);
			int more = linelen > 4 && c->buf[3] == '-';
			memmove(c->buf, nl + 1, c->len - linelen);
			c->len -= linelen;
			if (!more)
				return code;
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t r = conn_read(c, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int
command(struct conn *c, const char *line, int want)
{
	if (conn_write(c, line, strlen(line)) < 0)
		return -1;
	return reply(c) / 100 == want ? 0 : -1;
}

static int
handshake(struct conn *c, gnutls_certificate_credentials_t cred)
{
	if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0)
		return -1;
	gnutls_set_default_priority(c->tls);
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_transport_set_int(c->tls, c->fd);
	gnutls_handshake_set_timeout(c->tls, 30000);
	int r;
	do
		r = gnutls_handshake(c->tls);
	while (r < 0 && !gnutls_error_is_fatal(r));
	return r < 0 ? -1 : 0;
}

static int
one_message(gnutls_certificate_credentials_t cred)
{
	struct conn c = { .fd = socket(AF_INET, SOCK_STREAM, 0) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 60 };
	int one = 1, rc = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (c.fd < 0)
		return -1;
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		goto out;
	if (implicit_tls && handshake(&c, cred) < 0)
		goto out;
	if (reply(&c) != 220 || command(&c, "EHLO load.example\r\n", 2) < 0)
		goto out;
	if (!implicit_tls) {
		if (command(&c, "STARTTLS\r\n", 2) < 0 || c.len != 0 ||
		    handshake(&c, cred) < 0 ||
		    command(&c, "EHLO load.example\r\n", 2) < 0)
			goto out;
	}
	if (command(&c, "MAIL FROM:<bench@client.example>\r\n", 2) < 0 ||
	    command(&c, "RCPT TO:<rcpt@server.example>\r\n", 2) < 0 ||
	    command(&c, "DATA\r\n", 3) < 0 ||
	    conn_write(&c, message, message_len) < 0 || reply(&c) / 100 != 2)
		goto out;
	conn_write(&c, "QUIT\r\n", 6);
	reply(&c);
	rc = 0;
out:
	if (c.tls != NULL) {
		gnutls_bye(c.tls, GNUTLS_SHUT_WR);
		gnutls_deinit(c.tls);
	}
	close(c.fd);
	return rc;
}

static void *
worker(void *arg)
{
	gnutls_certificate_credentials_t cred;

	(void)arg;
	gnutls_certificate_allocate_credentials(&cred);
	while (atomic_fetch_add(&started, 1) < nmessages)
		if (one_message(cred) < 0)
			atomic_fetch_add(&errors, 1);
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

static void
make_message(void)
{
	static const char head[] = "Subject: bench\r\n\r\n";
	size_t lines = (size_t)msgsize / 78 + 1;

	message = malloc(sizeof(head) + lines * 78 + 8);
	if (message == NULL)
		exit(1);
	memcpy(message, head, sizeof(head) - 1);
	message_len = sizeof(head) - 1;
	for (size_t i = 0; i < lines; i++) {
		memset(message + message_len, 'x', 76);
		memcpy(message + message_len + 76, "\r\n", 2);
		message_len += 78;
	}
	memcpy(message + message_len, ".\r\n", 3);
	message_len += 3;
}

int
main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "it:n:s:")) != -1) {
		switch (opt) {
		case 'i': implicit_tls = 1; break;
		case 't': nthreads = atoi(optarg); break;
		case 'n': nmessages = atoi(optarg); break;
		case 's': msgsize = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || nthreads < 1 || nthreads > 1000 ||
	    nmessages < 1 || msgsize < 1)
		goto usage;
	port = atoi(argv[optind]);
	gnutls_global_init();
	make_message();

	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("messages=%d errors=%d seconds=%.3f\n", nmessages - errors, errors, dt);
	free(t);
	free(message);
	return errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: tls-load [-i] [-t THREADS] [-n MESSAGES] [-s SIZE] PORT\n");
	return 2;
}
