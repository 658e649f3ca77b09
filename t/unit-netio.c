/* SPDX-License-Identifier: ISC */
/*
 * unit-netio.c - tests of the line reader on the client connection
 * (worker/netio.c, netio_getline) over a socketpair: line ends, lines that
 * arrive in pieces, the length limit and what follows an over-long line,
 * the end of the connection, the deadline, the shutdown flag, and the work
 * held for a quiet moment (netio_set_idle).
 */
#include "autoconf.h"
#include "t/tap.h"
#include "worker/netio.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct netio io;
static int peer;
static volatile int abort_flag;

static int
getline_(char *line, size_t max, size_t *len, int seconds)
{
	struct timespec deadline = deadline_in(seconds);

	return netio_getline(&io, line, max, len, &deadline);
}

static void
put(const char *s)
{
	if (write(peer, s, strlen(s)) != (ssize_t)strlen(s))
		ok(0, "write to the socketpair");
}

static int held, runs;

static int
idle_pending(void)
{
	return held;
}

static void
idle_run(void)
{
	held = 0;
	runs++;
}

int
main(void)
{
	struct timespec t0;
	char line[64], big[100];
	size_t len;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	peer = sv[1];
	netio_init(&io, sv[0], NULL, &abort_flag);

	put("EHLO a\r\nMAIL FROM:<>\nNOOP");
	is_int(getline_(line, 20, &len, 5), NETIO_OK, "a CRLF line");
	is_str(line, "EHLO a", "CRLF removed");
	is_int(len, 6, "its length");
	is_int(getline_(line, 20, &len, 5), NETIO_OK, "an LF line");
	is_str(line, "MAIL FROM:<>", "LF removed");
	put("\r\n");
	is_int(getline_(line, 20, &len, 5), NETIO_OK, "a line in two pieces");
	is_str(line, "NOOP", "joined");
	put("1234567\r\n12345678\r\n");
	is_int(getline_(line, 10, &len, 5), NETIO_OK, "9 octets with CRLF, limit 10");
	is_int(getline_(line, 10, &len, 5), NETIO_OK, "10 octets with CRLF, limit 10");
	is_str(line, "12345678", "the longest line that fits");
	put("123456789\r\nQUIT\r\n");
	is_int(getline_(line, 10, &len, 5), NETIO_TOOLONG, "11 octets with CRLF, limit 10");
	is_int(getline_(line, 10, &len, 5), NETIO_OK, "the next line after a long one");
	is_str(line, "QUIT", "read whole");
	memset(big, 'x', sizeof(big));
	if (write(peer, big, sizeof(big)) != (ssize_t)sizeof(big))
		ok(0, "write");
	put("\r\nRSET\r\n");
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_TOOLONG,
	    "a line longer than the buffer given");
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_OK, "resynchronised at its LF");
	is_str(line, "RSET", "the line after it");
	if (write(peer, "a\0b\r\n", 5) != 5)
		ok(0, "write");
	put("x");
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_OK, "a line with a NUL");
	is_int(len, 3, "NUL is data: the length counts past it");
	is_int(getline_(line, sizeof(line), &len, 0), NETIO_TIMEOUT, "no LF before the deadline");
	abort_flag = 1;
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_ABORT, "the shutdown flag ends the wait");
	abort_flag = 0;
	put("\r\n");
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_OK, "the line finished after a timeout");
	is_str(line, "x", "nothing lost");

	/* work held for a quiet moment (milter events): done once the client
	 * kept us waiting idle_ms, and the wait goes on to its deadline */
	netio_set_idle(&io, 50, idle_pending, idle_run);
	held = 1;
	t0 = monotonic_now();
	is_int(getline_(line, sizeof(line), &len, 1), NETIO_TIMEOUT, "held work: the wait still ends at its deadline");
	ok(monotonic_since(&t0) >= 0.9, "not before it");
	is_int(runs, 1, "the held work was done once, while waiting");
	held = 1;
	put("NOOP\r\n");
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_OK, "input already there");
	is_int(runs, 1, "no wait: the held work stays held");
	netio_set_idle(&io, 0, NULL, NULL);
	close(peer);
	is_int(getline_(line, sizeof(line), &len, 5), NETIO_EOF, "the end of the connection");
	netio_write(&io, "250 Ok\r\n", 8);
	return done_testing();
}
