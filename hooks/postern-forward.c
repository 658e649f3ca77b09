/* SPDX-License-Identifier: ISC */
/*
 * postern-forward - Postern step for stages mail, rcpt and data: hand the
 * mail on to a downstream SMTP or LMTP server, in the client's transaction.
 *
 * Usage: postern-forward [--lmtp] [--tls=no|try|require] [--tls-ca FILE]
 *        [--tls-name NAME] [--xclient] [--helo NAME] [--timeout S]
 *        [--data-timeout S] inet:HOST:PORT|unix:/path
 *
 * It runs as a persistent hook (postern-hooks(7)): one process per worker,
 * reading policy requests on standard input and answering on standard
 * output.  At MAIL it opens the downstream transaction (connecting, EHLO or
 * LHLO, STARTTLS, XCLIENT as needed), at each RCPT it asks the downstream
 * and answers with its reply, at the data request it streams the message
 * and answers OK only after the downstream's 250.  See postern-forward(8).
 */
#include "forward/deliver.h"
#include "forward/relay.h"
#include "policy-request.h"
#include "../common/deadline.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define PROG		"postern-forward"
#define IDLE_MAX_MS	30000	/* a kept connection unused this long is closed */

static void
usage(const char *why)
{
	fprintf(stderr, PROG ": %s\nusage: " PROG " [--lmtp] [--tls=no|try|require] [--tls-ca FILE] "
	    "[--tls-name NAME] [--xclient] [--helo NAME] [--timeout S] [--data-timeout S] "
	    "inet:HOST:PORT|unix:/path\n(fix the step's command in postern.conf)\n", why);
	preq_misconfigured(PROG);
}

static int
seconds(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end != '\0' || v <= 0 || v > 3600)
		usage("a timeout is a number of seconds from 1 to 3600");
	return (int)v;
}

/* The name the certificate must carry: --tls-name, else the HOST of
 * inet:HOST:PORT. */
static const char *
target_host(const char *target)
{
	static char host[256];
	const char *colon;
	size_t l;

	if (strncmp(target, "inet:", 5) != 0 || (colon = strrchr(target, ':')) == target + 4)
		return "localhost";
	l = (size_t)(colon - (target + 5));
	if (l >= sizeof(host))
		l = sizeof(host) - 1;
	memcpy(host, target + 5, l);
	host[l] = '\0';
	if (host[0] == '[' && l > 1 && host[l - 1] == ']') {
		memmove(host, host + 1, l - 2);
		host[l - 2] = '\0';
	}
	return host;
}

static void
options(int argc, char **argv, struct fwd *f)
{
	static const struct option longopts[] = {
		{ "lmtp", no_argument, NULL, 'l' }, { "tls", required_argument, NULL, 't' },
		{ "tls-ca", required_argument, NULL, 'c' }, { "tls-name", required_argument, NULL, 'n' },
		{ "xclient", no_argument, NULL, 'x' }, { "helo", required_argument, NULL, 'h' },
		{ "timeout", required_argument, NULL, 'T' }, { "data-timeout", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	static char host[HOST_NAME_MAX + 1];
	const char *ca = NULL;
	int ch, rc;

	f->o.tls = TLS_NO;
	f->o.timeout = 25;
	f->o.data_timeout = 270;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': f->o.lmtp = 1; break;
		case 'x': f->o.xclient = 1; break;
		case 'c': ca = optarg; break;
		case 'n': f->o.tls_name = optarg; break;
		case 'h': f->o.helo = optarg; break;
		case 'T': f->o.timeout = seconds(optarg); break;
		case 'D': f->o.data_timeout = seconds(optarg); break;
		case 't':
			if (strcmp(optarg, "no") == 0) f->o.tls = TLS_NO;
			else if (strcmp(optarg, "try") == 0) f->o.tls = TLS_TRY;
			else if (strcmp(optarg, "require") == 0) f->o.tls = TLS_REQUIRE;
			else usage("--tls is one of no, try, require");
			break;
		default: usage("unknown option");
		}
	}
	if (optind != argc - 1)
		usage("expected one downstream, inet:HOST:PORT or unix:/path");
	f->o.target = argv[optind];
	if (strncmp(f->o.target, "inet:", 5) != 0 && strncmp(f->o.target, "unix:", 5) != 0)
		usage("the downstream is inet:HOST:PORT or unix:/path");
	if (f->o.helo == NULL) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		f->o.helo = host;
	}
	if (f->o.tls_name == NULL)
		f->o.tls_name = target_host(f->o.target);
	if ((rc = gnutls_certificate_allocate_credentials(&f->cred)) < 0) {
		fprintf(stderr, PROG ": GnuTLS: %s\n", gnutls_strerror(rc));
		exit(EX_TEMPFAIL);
	}
	if (ca != NULL) {
		if ((rc = gnutls_certificate_set_x509_trust_file(f->cred, ca, GNUTLS_X509_FMT_PEM)) <= 0) {
			fprintf(stderr, PROG ": --tls-ca %s: %s\n", ca,
			    rc == 0 ? "no certificate in it" : gnutls_strerror(rc));
			usage("--tls-ca must name a readable PEM file of CA certificates");
		}
		f->o.tls_verify = 1;
		if (f->o.tls == TLS_NO)
			f->o.tls = TLS_REQUIRE;
	}
}

/* Wait for the next request; meanwhile notice a kept connection that the
 * server closed, and close one that has been idle too long. */
static void
idle(struct fwd *f, struct preader *rd)
{
	struct timespec end = deadline_in_ms(IDLE_MAX_MS);

	while (f->c.fd >= 0 && !preader_buffered(rd)) {
		struct pollfd pfd[2] = { { rd->fd, POLLIN, 0 }, { f->c.fd, POLLIN, 0 } };
		int rc = poll(pfd, 2, 1000);
		if (rc < 0 && errno != EINTR)
			return;
		if (pfd[0].revents)
			return;
		if (pfd[1].revents) {
			fwd_drop(f);    /* a 421 or a close: the next MAIL reconnects */
			return;
		}
		if (deadline_ms_left(&end) <= 0) {
			fwd_quit(f);
			return;
		}
	}
}

static void
serve(struct fwd *f)
{
	static struct preader rd;
	struct preq q = { NULL, 0, 0, 0 };
	struct answer a;
	int rc;

	preader_init(&rd, STDIN_FILENO);
	for (;;) {
		const char *req, *state;

		idle(f, &rd);
		if ((rc = preq_read(&rd, &q)) <= 0) {
			if (rc < 0)
				fprintf(stderr, PROG ": reading the request: %s\n", strerror(errno));
			break;
		}
		req = preq_get(&q, "request");
		state = preq_get(&q, "protocol_state");
		a.action[0] = '\0';
		if (strcmp(req, "postern_data") == 0) {
			unsigned long long size;
			if (preq_size(&q, &size) < 0) {
				fprintf(stderr, PROG ": a postern_data request without a valid size=\n");
				break;
			}
			fwd_data(f, &q, &rd, size, stdout);
			continue;
		}
		if (strcmp(state, "MAIL") == 0)
			(void)fwd_mail(f, &q, &a);
		else if (strcmp(state, "RCPT") == 0)
			(void)fwd_rcpt(f, &q, &a);
		else
			fwd_answer(&a, "DUNNO");
		if (!fwd_answered(&a))
			fwd_answer(&a, "451 4.3.0 internal error in " PROG);
		printf("action=%s\n\n", a.action);
		if (fflush(stdout) == EOF)
			break;
	}
	preq_free(&q);
	fwd_quit(f);
}

int
main(int argc, char **argv)
{
	static struct fwd f;

	signal(SIGPIPE, SIG_IGN);
	conn_init(&f.c);
	options(argc, argv, &f);
	if (getenv("POSTERN_PERSISTENT") == NULL)
		usage("run it as a persistent step (persistent = yes): it speaks the policy protocol");
	serve(&f);
	return EX_OK;
}
