/* SPDX-License-Identifier: ISC */
/*
 * postern-maildir - Postern data hook: deliver one message into a Maildir.
 *
 * Usage: postern-maildir DIR
 *
 * Postern runs this program once per message (fork+exec, as an unprivileged
 * user, empty environment, cwd "/") with the message on standard input:
 * Received: header already prepended, LF line endings, arbitrary bytes
 * (8-bit, NUL).  There is no size limit; the message is streamed.
 *
 * Exit status:
 *   0  (EX_OK)        the message is in DIR/new and both its data and its
 *                     directory entry were fsync()ed.  Only then.
 *   75 (EX_TEMPFAIL)  anything else, including a wrong argument count (a
 *                     configuration typo must never bounce or lose mail).
 *                     One line "451 4.3.0 <reason>" goes to stdout for the
 *                     SMTP client; a diagnostic naming the path and the
 *                     error goes to stderr for Postern's log.
 *
 * Algorithm (maildir-store.c, cr.yp.to/proto/maildir.html):
 *   1. mkdir DIR, DIR/tmp, DIR/new, DIR/cur (0700) if missing; fsync parents.
 *   2. create the file in DIR/tmp: anonymous (O_TMPFILE) where the system
 *      can, else DIR/tmp/SEC.MusecPpidQn.host with O_CREAT|O_EXCL; copy
 *      stdin in.
 *   3. fdatasync() (anonymous) or fsync() it, checking the byte count.
 *   4. give it its name DIR/new/NAME,S=size (linkat(), or link() and
 *      unlink() of the tmp/ name, or rename()), fsync() DIR/new, and for an
 *      anonymous file fsync() it again (the link count).
 *   5. On any failure remove whatever was created in tmp/ and new/, exit 75.
 *
 * Persistent mode: when Postern runs it as a persistent hook (it then sets
 * POSTERN_PERSISTENT=1), it stays and delivers one message per
 * request=postern_data of the Postfix policy protocol: name=value lines, an
 * empty line, exactly size=N bytes of message; it answers "action=OK" after
 * step 4, or "action=DEFER_IF_PERMIT 4.3.0 <reason>" and exits on a failure
 * (Postern starts it again).  No process per message, the same durability.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "maildir.h"

#define COPY_BUFSIZE	(64 * 1024)	/* stdin -> file copy buffer */
#define SMTP_PREFIX	"451 4.3.0 "

static sigset_t term_signals;		/* signals that abort a delivery */
static int persistent;			/* speaking the policy protocol */

/* hint - what the administrator can do about an errno value */
static const char *
hint(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "make the Maildir and its parent directory writable "
		    "by the user Postern runs hooks as";
	case ENOENT:
		return "create the parent directory of the Maildir";
	case ENOSPC:
	case EDQUOT:
		return "free some disk space or raise the quota";
	case EROFS:
		return "the file system is mounted read-only";
	case ENAMETOOLONG:
		return "use a shorter Maildir path";
	case ENOTDIR:
		return "check the Maildir path in the Postern configuration";
	default:
		return NULL;
	}
}

/* cleanup - remove anything this delivery left behind, keep errno */
static void
cleanup(void)
{
	int saved = errno;

	if (have_new) {
		if (unlink(new_path) < 0 && errno != ENOENT)
			fprintf(stderr, PROG ": cannot remove %s: %s "
			    "(remove it by hand: it may be a duplicate)\n",
			    new_path, strerror(errno));
		have_new = 0;
	}
	if (have_tmp) {
		if (unlink(tmp_path) < 0 && errno != ENOENT)
			fprintf(stderr, PROG ": cannot remove %s: %s\n",
			    tmp_path, strerror(errno));
		have_tmp = 0;
	}
	errno = saved;
}

/* report - "PROG: <kind><what>: <strerror(err)> (<hint>)" on stderr */
static void
report(const char *kind, int err, const char *h, const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": %s", kind);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	if (h)
		fprintf(stderr, " (%s)", h);
	fputc('\n', stderr);
}

/*
 * fail - log "PROG: <what>: <strerror(err)> (<hint>)" on stderr, clean up,
 * tell Postern "451 4.3.0 ..." on stdout and exit EX_TEMPFAIL.  err == 0
 * means a configuration error without an errno value.
 */
void
fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("", err, err ? hint(err) : NULL, fmt, ap);
	va_end(ap);
	fflush(stderr);

	cleanup();

	if (persistent)
		printf("action=DEFER_IF_PERMIT 4.3.0 Maildir delivery failed: %s\n\n",
		    err ? strerror(err) : "local configuration error");
	else
		printf(SMTP_PREFIX "Maildir delivery failed: %s\n",
		    err ? strerror(err) : "local configuration error");
	fflush(stdout);
	exit(EX_TEMPFAIL);
}

/* warn - log a problem that does not affect the delivery */
void
warn(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("warning: ", err, NULL, fmt, ap);
	va_end(ap);
}

/* on_signal - abandon the delivery: async-signal-safe calls only */
static void
on_signal(int sig)
{
	static const char log[] = PROG ": terminated by signal, "
	    "delivery abandoned\n";
	static const char smtp[] = SMTP_PREFIX "Maildir delivery interrupted\n";
	ssize_t ignored;

	(void)sig;
	if (have_new)
		(void)unlink(new_path);
	if (have_tmp)
		(void)unlink(tmp_path);
	ignored = write(STDERR_FILENO, log, sizeof(log) - 1);
	if (!persistent)
		ignored = write(STDOUT_FILENO, smtp, sizeof(smtp) - 1);
	(void)ignored;
	_exit(EX_TEMPFAIL);
}

/* setup_signals - ignore SIGPIPE/SIGXFSZ, clean up on termination */
static void
setup_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	/* Write errors must come back as EPIPE/EFBIG, not kill us. */
	if (sigaction(SIGPIPE, &sa, NULL) < 0
	    || sigaction(SIGXFSZ, &sa, NULL) < 0)
		fail(errno, "cannot ignore SIGPIPE/SIGXFSZ");

	sigemptyset(&term_signals);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&term_signals, sigs[i]);
	sa.sa_handler = on_signal;
	sa.sa_mask = term_signals;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			fail(errno, "cannot install handler for signal %d",
			    sigs[i]);
}

/* block_signals - keep the signal handler out of a critical section */
void
block_signals(int block)
{
	if (sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &term_signals,
	    NULL) < 0)
		fail(errno, "cannot %s signals", block ? "block" : "unblock");
}

/* copy_stdin - copy standard input to the file; return the byte count */
static uintmax_t
copy_stdin(struct msgfile *m)
{
	static char buf[COPY_BUFSIZE];
	uintmax_t total = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(errno, "cannot read the message from standard "
			    "input");
		}
		if (n == 0)
			return (total);
		store_write(m, buf, (size_t)n);
		if (total > UINTMAX_MAX - (uintmax_t)n)
			fail(EFBIG, "message on standard input");
		total += (uintmax_t)n;
	}
}

/* copy_exact - copy exactly SIZE bytes of standard input (stdio) to the file */
static void
copy_exact(struct msgfile *m, uintmax_t size)
{
	static char buf[COPY_BUFSIZE];

	while (size > 0) {
		size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		size_t n = fread(buf, 1, want, stdin);

		if (n == 0)
			fail(ferror(stdin) ? errno : EPIPE,
			    "the message ended before its announced size");
		store_write(m, buf, n);
		size -= n;
	}
}

/*
 * serve - persistent mode: one request=postern_data after another.  Returns
 * at the end of input.  Attribute lines other than size= are ignored.
 */
static void
serve(const char *dir, const char *quarantine)
{
	char line[8192];
	struct msgfile m;
	uintmax_t size = 0;
	int have_size = 0, held = 0;
	const char *to;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strchr(line, '\n') == NULL)
			fail(EINVAL, "a request line longer than %zu bytes", sizeof(line));
		if (line[0] != '\n') {
			if (strncmp(line, "size=", 5) == 0) {
				char *end;
				errno = 0;
				size = strtoumax(line + 5, &end, 10);
				if (errno != 0 || end == line + 5 || *end != '\n')
					fail(EINVAL, "bad size= in the request");
				have_size = 1;
			} else if (strncmp(line, "postern_quarantine=", 19) == 0 && line[19] != '\n') {
				held = 1;
			}
			continue;
		}
		if (!have_size) {
			/* not a postern_data request: nothing to deliver */
			fputs("action=DUNNO\n\n", stdout);
			fflush(stdout);
			continue;
		}
		to = held && quarantine != NULL ? quarantine : dir;
		store_open(to, &m);
		copy_exact(&m, size);
		store_commit(to, &m, size);
		fputs("action=OK\n\n", stdout);
		if (fflush(stdout) == EOF)
			exit(EX_TEMPFAIL);
		size = 0;
		have_size = held = 0;
	}
}

int
main(int argc, char **argv)
{
	struct msgfile m;
	uintmax_t size;
	const char *p = getenv("POSTERN_PERSISTENT");
	const char *q = getenv("POSTERN_QUARANTINE");
	const char *quarantine, *to;

	setup_signals();
	if ((argc != 2 && argc != 3) || argv[1][0] == '\0' || (argc == 3 && argv[2][0] == '\0'))
		fail(0, "usage: " PROG " /path/to/Maildir [/path/to/quarantine/Maildir] (got %d arguments; "
		    "fix the data hook command in the Postern configuration)",
		    argc - 1);

	persistent = p != NULL && strcmp(p, "1") == 0;
	/* A milter quarantined the message: into the second Maildir, if any. */
	quarantine = argc == 3 ? argv[2] : NULL;
	make_maildir(argv[1]);
	if (quarantine != NULL)
		make_maildir(quarantine);
	if (persistent) {
		serve(argv[1], quarantine);
		return (EX_OK);
	}
	to = quarantine != NULL && q != NULL && q[0] != '\0' ? quarantine : argv[1];
	store_open(to, &m);
	size = copy_stdin(&m);
	store_commit(to, &m, size);
	return (EX_OK);
}
