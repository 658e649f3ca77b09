/* SPDX-License-Identifier: ISC */
/*
 * unit-policy-request.c - the request reader shared by postern-forward and
 * postern-webhook: attributes, repeated attributes, the message after a
 * postern_data request, and the limits (a line too long, an early end).
 */
#include "tap.h"
#include "../hooks/policy-request.h"
#include "../hooks/xtext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A reader over a pipe holding TEXT (N bytes), the write end closed. */
static int
feed(const char *text, size_t n)
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	if (write(p[1], text, n) != (ssize_t)n)
		return -1;
	close(p[1]);
	return p[0];
}

static void
test_requests(void)
{
	static const char in[] = "\nrequest=postern_data\nsize=5\ninstance=A.1\n"
	    "postern_rcpt_list=a@x\npostern_rcpt_list=b@x\nnoequals\n\nHELLOrequest=smtpd_access_policy\r\n"
	    "protocol_state=RCPT\r\n\r\n";
	static struct preader rd;
	struct preq q = { NULL, 0, 0, 0 };
	const char *it = NULL;
	char body[16];
	unsigned long long size = 0;
	int fd = feed(in, sizeof(in) - 1);

	preader_init(&rd, fd);
	is_int(preq_read(&rd, &q), 1, "a request after a stray empty line");
	is_str(preq_get(&q, "request"), "postern_data", "its request=");
	is_str(preq_get(&q, "size"), "5", "its size=");
	ok(preq_size(&q, &size) == 0 && size == 5, "preq_size: 5");
	ok(preq_has(&q, "instance") && !preq_has(&q, "missing"), "preq_has");
	is_str(preq_get(&q, "missing"), "", "a missing attribute is empty");
	is_str(preq_get(&q, "postern_rcpt_list"), "b@x", "preq_get gives the last of repeated ones");
	is_str(preq_next(&q, "postern_rcpt_list", &it), "a@x", "preq_next: the first");
	is_str(preq_next(&q, "postern_rcpt_list", &it), "b@x", "preq_next: the second");
	ok(preq_next(&q, "postern_rcpt_list", &it) == NULL, "preq_next: then NULL");
	is_int(q.count, 5, "a line without = is not an attribute");
	is_int(preader_body(&rd, body, 5), 5, "the message follows");
	ok(memcmp(body, "HELLO", 5) == 0, "byte for byte");
	is_int(preq_read(&rd, &q), 1, "the next request (CR LF lines)");
	is_str(preq_get(&q, "protocol_state"), "RCPT", "its protocol_state=, without the CR");
	is_str(preq_get(&q, "size"), "", "nothing left of the one before");
	is_int(preq_size(&q, &size), -1, "preq_size: no size=");
	is_int(preq_read(&rd, &q), 0, "then the end of input");
	close(fd);

	fd = feed("request=x\nsize=1\n", 17);
	preader_init(&rd, fd);
	errno = 0;
	is_int(preq_read(&rd, &q), -1, "input that ends inside a request");
	is_int(errno, EPIPE, "is EPIPE");
	close(fd);
	preq_free(&q);
}

/* size= values: only plain decimal numbers count. */
static void
test_size(void)
{
	static const char *bad[] = { "", "-1", "+5", " 5", "5 ", "0x10", "12a", "1234567890123456789" };
	static struct preader rd;
	struct preq q = { NULL, 0, 0, 0 };
	unsigned long long size;
	char in[64], name[64];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(in, sizeof(in), "size=%s\n\n", bad[i]);
		fd = feed(in, strlen(in));
		preader_init(&rd, fd);
		snprintf(name, sizeof(name), "preq_size refuses \"%s\"", bad[i]);
		ok(preq_read(&rd, &q) == 1 && preq_size(&q, &size) == -1, name);
		close(fd);
	}
	fd = feed("size=123456789012345678\n\n", 26);
	preader_init(&rd, fd);
	ok(preq_read(&rd, &q) == 1 && preq_size(&q, &size) == 0 && size == 123456789012345678ULL,
	    "preq_size: 18 digits");
	close(fd);
	preq_free(&q);
}

static void
test_too_long(void)
{
	static struct preader rd;
	struct preq q = { NULL, 0, 0, 0 };
	size_t n = PREQ_LINE_MAX + 10;
	char *big = malloc(n);
	int p[2];
	pid_t pid;

	memset(big, 'a', n);
	memcpy(big, "name=", 5);
	big[n - 1] = '\n';
	if (pipe(p) < 0)
		return;
	if ((pid = fork()) == 0) {
		close(p[0]);
		(void)!write(p[1], big, n);
		_exit(0);
	}
	close(p[1]);
	preader_init(&rd, p[0]);
	errno = 0;
	is_int(preq_read(&rd, &q), -1, "a line over 64 KiB");
	is_int(errno, EMSGSIZE, "is EMSGSIZE");
	close(p[0]);
	waitpid(pid, NULL, 0);          /* the writer dies of SIGPIPE or is done */
	free(big);
	preq_free(&q);
}

static void
test_xtext(void)
{
	char out[64];

	is_int(xtext_encode("bob@example.org", NULL, out, sizeof(out)), 0, "plain address");
	is_str(out, "bob@example.org", "unchanged");
	xtext_encode("a+b=c d\xc3\xa9", NULL, out, sizeof(out));
	is_str(out, "a+2Bb+3Dc+20d+C3+A9", "+, =, space, 8-bit as +HH");
	xtext_encode("x,y", ",", out, sizeof(out));
	is_str(out, "x+2Cy", "and the extra bytes asked for");
	is_int(xtext_encode("abcdef", NULL, out, 6), -1, "too long for the buffer");
	is_int(xtext_encode("++", NULL, out, 6), -1, "encoded too long for the buffer");
}

int
main(void)
{
	test_requests();
	test_size();
	test_too_long();
	test_xtext();
	return done_testing();
}
