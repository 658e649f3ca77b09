/* SPDX-License-Identifier: ISC */
/*
 * postern-webhook - Postern data step: POST each message to an HTTP(S) URL.
 *
 * Usage: postern-webhook --secret-file FILE [--timeout S] [--cacert FILE] URL
 *
 * A persistent hook (postern-hooks(7)): one process per worker, one curl
 * handle (so one kept connection) per process.  For each postern_data
 * request it POSTs the message once, as message/rfc822, with the envelope
 * and a signature in request headers:
 *
 *   X-Postern-Timestamp: <Unix seconds>
 *   X-Postern-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
 *   X-Postern-Mail-From: <sender, xtext>
 *   X-Postern-Rcpt-To:   <recipients, xtext, comma-separated>
 *   X-Postern-Queue-Id:  <posternd's id of the message, for de-duplication>
 *
 * The answer: 2xx -> OK (250); 408, 429, 5xx, a timeout or no connection ->
 * 451; any other 4xx -> 554; 1xx and 3xx (redirects are not followed) ->
 * 451.  TLS certificates are always verified.  See postern-webhook(8).
 */
#include "policy-request.h"
#include "webhook-sign.h"
#include "xtext.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define PROG		"postern-webhook"
#define SECRET_MAX	4096
#define HEADER_MAX	(1 << 20)	/* the recipients' header */

struct webhook {
	const char *url, *cacert;
	long timeout;
	char secret[SECRET_MAX];
	size_t secretlen;
	CURL *curl;
};

static void
usage(const char *why)
{
	fprintf(stderr, PROG ": %s\nusage: " PROG " --secret-file FILE [--timeout S] [--cacert FILE] URL\n"
	    "(fix the step's command in postern.conf)\n", why);
	preq_misconfigured(PROG);
}

static void
read_secret(struct webhook *w, const char *file)
{
	FILE *fp = fopen(file, "r");
	size_t n;

	if (fp == NULL) {
		fprintf(stderr, PROG ": --secret-file %s: %s\n", file, strerror(errno));
		usage("the secret file must be readable by the user Postern runs hooks as");
	}
	n = fread(w->secret, 1, sizeof(w->secret) - 1, fp);
	fclose(fp);
	while (n > 0 && (w->secret[n - 1] == '\n' || w->secret[n - 1] == '\r'))
		n--;
	if (n == 0)
		usage("the secret file is empty");
	w->secret[n] = '\0';
	w->secretlen = n;
}

static void
options(int argc, char **argv, struct webhook *w)
{
	static const struct option longopts[] = {
		{ "secret-file", required_argument, NULL, 's' }, { "timeout", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 },
	};
	const char *secret = NULL;
	char *end;
	int ch;

	w->timeout = 60;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': secret = optarg; break;
		case 'c': w->cacert = optarg; break;
		case 't':
			w->timeout = strtol(optarg, &end, 10);
			if (*end != '\0' || w->timeout <= 0 || w->timeout > 3600)
				usage("--timeout is a number of seconds from 1 to 3600");
			break;
		default: usage("unknown option");
		}
	}
	if (optind != argc - 1)
		usage("expected one URL");
	w->url = argv[optind];
	if (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0)
		usage("the URL starts with http:// or https://");
	if (secret == NULL)
		usage("--secret-file is required (the receiver checks the signature with it)");
	read_secret(w, secret);
}

/* The response body is not used: read and dropped, whatever its size. */
static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* "X-Postern-Rcpt-To: a@x,b@y" from the postern_rcpt_list attributes. */
static struct curl_slist *
rcpt_header(struct curl_slist *h, const struct preq *q)
{
	static char line[HEADER_MAX];
	const char *it = NULL, *r;
	size_t len = (size_t)snprintf(line, sizeof(line), "X-Postern-Rcpt-To: ");
	char enc[3 * 1024];

	while ((r = preq_next(q, "postern_rcpt_list", &it)) != NULL) {
		if (xtext_encode(r, ",", enc, sizeof(enc)) < 0)
			continue;
		if (len + strlen(enc) + 2 >= sizeof(line))
			break;
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
		    line[len - 1] == ' ' ? "" : ",", enc);
	}
	return curl_slist_append(h, line);
}

/* "NAME: VALUE" with VALUE xtext-encoded (empty if it is too long). */
static struct curl_slist *
xtext_header(struct curl_slist *h, const char *name, const char *value)
{
	char line[2048], enc[1024];

	if (xtext_encode(value, NULL, enc, sizeof(enc)) < 0)
		enc[0] = '\0';
	snprintf(line, sizeof(line), "%s: %s", name, enc);
	return curl_slist_append(h, line);
}

/* POST once; the policy action for the result. */
static void
post(struct webhook *w, const struct preq *q, const char *body, size_t len, char *action, size_t alen)
{
	char ts[32], sig[SIGN_HEX_LEN + 1], line[2048];
	struct curl_slist *h = NULL;
	long status = 0;
	CURLcode rc;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (webhook_sign(w->secret, w->secretlen, ts, body, len, sig) < 0) {
		snprintf(action, alen, "451 4.3.0 cannot sign the request (GnuTLS)");
		return;
	}
	h = curl_slist_append(h, "Content-Type: message/rfc822");
	h = curl_slist_append(h, "Expect:");
	snprintf(line, sizeof(line), "X-Postern-Timestamp: %s", ts);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), "X-Postern-Signature: sha256=%s", sig);
	h = curl_slist_append(h, line);
	h = xtext_header(h, "X-Postern-Mail-From", preq_get(q, "sender"));
	h = rcpt_header(h, q);
	h = xtext_header(h, "X-Postern-Queue-Id", preq_get(q, "instance"));

	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(w->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);

	if (rc != CURLE_OK) {
		fprintf(stderr, PROG ": %s: %s\n", w->url, curl_easy_strerror(rc));
		snprintf(action, alen, "451 %s webhook not reachable: %s",
		    rc == CURLE_OPERATION_TIMEDOUT ? "4.4.1" : "4.4.2", curl_easy_strerror(rc));
	} else if (status >= 200 && status < 300) {
		snprintf(action, alen, "OK");
	} else if (status == 408 || status == 429 || status >= 500) {
		fprintf(stderr, PROG ": %s answered HTTP %ld: temporary failure\n", w->url, status);
		snprintf(action, alen, "451 4.3.0 webhook answered HTTP %ld, try again later", status);
	} else if (status >= 400) {
		fprintf(stderr, PROG ": %s answered HTTP %ld: message refused\n", w->url, status);
		snprintf(action, alen, "554 5.6.0 webhook refused the message (HTTP %ld)", status);
	} else {
		fprintf(stderr, PROG ": %s answered HTTP %ld, which is not an answer (redirects are "
		    "not followed: fix the URL)\n", w->url, status);
		snprintf(action, alen, "451 4.3.0 webhook answered HTTP %ld, try again later", status);
	}
}

static void
setup_curl(struct webhook *w)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (w->curl = curl_easy_init()) == NULL) {
		fprintf(stderr, PROG ": cannot initialise libcurl\n");
		exit(EX_TEMPFAIL);
	}
	curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
	curl_easy_setopt(w->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT, w->timeout < 10 ? w->timeout : 10L);
	curl_easy_setopt(w->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(w->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(w->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "postern-webhook");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (w->cacert != NULL)
		curl_easy_setopt(w->curl, CURLOPT_CAINFO, w->cacert);
}

/* Read SIZE bytes of message; NULL (and the rest read and dropped) when
 * memory is short. */
static char *
read_body(struct preader *rd, unsigned long long size)
{
	char *body = size < (1ULL << 40) ? malloc((size_t)size + 1) : NULL, sink[65536];
	unsigned long long got = 0;

	while (got < size) {
		size_t want = size - got;
		ssize_t n;
		if (body == NULL && want > sizeof(sink))
			want = sizeof(sink);
		n = preader_body(rd, body != NULL ? body + got : sink, want);
		if (n <= 0)
			exit(EX_TEMPFAIL);      /* posternd went away mid-message */
		got += (unsigned long long)n;
	}
	return body;
}

int
main(int argc, char **argv)
{
	static struct preader rd;
	static struct webhook w;
	struct preq q = { NULL, 0, 0, 0 };
	char action[600];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	options(argc, argv, &w);
	if (getenv("POSTERN_PERSISTENT") == NULL)
		usage("run it as a persistent step (persistent = yes): it speaks the policy protocol");
	setup_curl(&w);
	preader_init(&rd, STDIN_FILENO);
	while ((rc = preq_read(&rd, &q)) > 0) {
		if (strcmp(preq_get(&q, "request"), "postern_data") != 0) {
			snprintf(action, sizeof(action), "DUNNO");
		} else {
			unsigned long long size;
			char *body;
			if (preq_size(&q, &size) < 0) {
				fprintf(stderr, PROG ": a postern_data request without a valid size=\n");
				break;
			}
			if ((body = read_body(&rd, size)) == NULL)
				snprintf(action, sizeof(action), "451 4.3.0 out of memory");
			else
				post(&w, &q, body, (size_t)size, action, sizeof(action));
			free(body);
		}
		printf("action=%s\n\n", action);
		if (fflush(stdout) == EOF)
			break;
	}
	if (rc < 0)
		fprintf(stderr, PROG ": reading the request: %s\n", strerror(errno));
	preq_free(&q);
	explicit_bzero(w.secret, sizeof(w.secret));
	curl_easy_cleanup(w.curl);
	curl_global_cleanup();
	return EX_OK;
}
