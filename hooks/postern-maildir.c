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
 * Algorithm (cr.yp.to/proto/maildir.html, as qmail and Postfix do it):
 *   1. mkdir DIR, DIR/tmp, DIR/new, DIR/cur (0700) if missing; fsync parents.
 *   2. open DIR/tmp/SEC.MusecPpidQn.host with O_CREAT|O_EXCL; copy stdin in.
 *   3. fsync() and close() the file, checking both and the byte count.
 *   4. link() it to DIR/new/NAME,S=size (rename() where hard links are not
 *      supported), unlink the tmp/ name, fsync() DIR/new.
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

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/writeall.h"

#define PROG		"postern-maildir"
#define COPY_BUFSIZE	(64 * 1024)	/* stdin -> file copy buffer */
#define MAX_TRIES	20		/* attempts at an unused tmp/ name */
#define HOST_MAXESC	100		/* max length of the escaped hostname */
#define SMTP_PREFIX	"451 4.3.0 "

/*
 * State shared with fail() and the signal handler.  The paths are only
 * written while the corresponding flag is 0, so the handler never sees a
 * path that is being modified.
 */
static char tmp_path[PATH_MAX];		/* DIR/tmp/NAME */
static char new_path[PATH_MAX];		/* DIR/new/NAME,S=size */
static volatile sig_atomic_t have_tmp;	/* tmp_path exists and is ours */
static volatile sig_atomic_t have_new;	/* new_path exists, not yet durable */
static sigset_t term_signals;		/* signals that abort a delivery */
static int persistent;			/* speaking the policy protocol */
static unsigned counter;		/* Q in the names: one more per delivery */

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
__attribute__((noreturn, format(printf, 2, 3)))
static void
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
__attribute__((format(printf, 2, 3)))
static void
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
static void
block_signals(int block)
{
	if (sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &term_signals,
	    NULL) < 0)
		fail(errno, "cannot %s signals", block ? "block" : "unblock");
}

/* make_path - snprintf a path, exit 75 if it does not fit */
__attribute__((format(printf, 3, 4)))
static void
make_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail(EINVAL, "cannot format path");
	if ((size_t)n >= size)
		fail(ENAMETOOLONG, "path \"%.60s...\" is %d bytes, "
		    "longer than %zu", buf, n, size - 1);
}

/* sync_dir - make the entries of a directory durable */
static void
sync_dir(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail(errno, "cannot open directory %s", path);
	if (fsync(fd) < 0) {
		/* EINVAL: this file system cannot sync directories at all. */
		if (errno != EINVAL)
			fail(errno, "cannot fsync directory %s", path);
		warn(errno, "cannot fsync directory %s", path);
	}
	if (close(fd) < 0)
		fail(errno, "cannot close directory %s", path);
}

/* make_dir - mkdir path if missing; return 1 if it was created */
static int
make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return (1);
	if (errno != EEXIST)
		fail(errno, "cannot create %s", path);
	if (stat(path, &st) < 0)
		fail(errno, "cannot stat %s", path);
	if (!S_ISDIR(st.st_mode))
		fail(ENOTDIR, "%s exists", path);
	return (0);
}

/* make_maildir - create DIR and DIR/{tmp,new,cur}, durably */
static void
make_maildir(const char *dir)
{
	static const char *subdirs[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];
	int created_dir, created_sub = 0;
	size_t i;

	created_dir = make_dir(dir);
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		make_path(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		created_sub |= make_dir(path);
	}
	if (created_sub)
		sync_dir(dir);
	if (created_dir) {
		/* dirname() may modify its argument: work on a copy. */
		make_path(path, sizeof(path), "%s", dir);
		sync_dir(dirname(path));
	}
}

/* get_host - hostname with '/' and ':' escaped as the Maildir spec says */
static void
get_host(char *out, size_t size)
{
	char host[HOST_NAME_MAX + 1];
	const char *cp;
	size_t len = 0;

	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");

	for (cp = host; *cp != '\0'; cp++) {
		const char *esc = *cp == '/' ? "\\057" : *cp == ':' ? "\\072"
		    : NULL;
		size_t n = esc ? 4 : 1;

		if (len + n >= size)	/* truncate between characters */
			break;
		if (esc)
			memcpy(out + len, esc, n);
		else
			out[len] = *cp;
		len += n;
	}
	out[len] = '\0';
}

/* create_tmp - create a new unique file in DIR/tmp; return its descriptor */
static int
create_tmp(const char *dir, char *name, size_t size)
{
	char host[HOST_MAXESC + 1];
	unsigned tries;
	int fd, err;

	get_host(host, sizeof(host));
	for (tries = 0; ; tries++, counter++) {
		struct timespec ts;

		if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
			fail(errno, "cannot read the clock");
		make_path(name, size, "%lld.M%06ldP%ldQ%u.%s",
		    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000),
		    (long)getpid(), counter, host);
		make_path(tmp_path, sizeof(tmp_path), "%s/tmp/%s", dir, name);

		block_signals(1);
		fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
		    | O_NOCTTY, 0600);
		err = errno;
		if (fd >= 0)
			have_tmp = 1;
		block_signals(0);

		if (fd >= 0)
			return (fd);
		if (err != EEXIST || tries + 1 >= MAX_TRIES)
			fail(err, "cannot create %s", tmp_path);
	}
}

/* write_tmp - write a whole buffer to the tmp/ file, or fail */
static void
write_tmp(int fd, const char *buf, size_t len)
{
	if (write_all(fd, buf, len, NULL) < 0)
		fail(errno, "cannot write %s", tmp_path);
}

/* copy_stdin - copy standard input to fd; return the byte count */
static uintmax_t
copy_stdin(int fd)
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
		write_tmp(fd, buf, (size_t)n);
		if (total > UINTMAX_MAX - (uintmax_t)n)
			fail(EFBIG, "message on standard input");
		total += (uintmax_t)n;
	}
}

/* finish_tmp - verify, fsync and close the tmp/ file */
static void
finish_tmp(int fd, uintmax_t size)
{
	struct stat st;

	if (fsync(fd) < 0)
		fail(errno, "cannot fsync %s", tmp_path);
	if (fstat(fd, &st) < 0)
		fail(errno, "cannot stat %s", tmp_path);
	if (st.st_size < 0 || (uintmax_t)st.st_size != size)
		fail(EIO, "%s has %jd bytes, wrote %ju", tmp_path,
		    (intmax_t)st.st_size, size);
	if (close(fd) < 0)
		fail(errno, "cannot close %s", tmp_path);
}

/* link_unsupported - does this link() error mean "use rename()"? */
static int
link_unsupported(int err)
{
	return (err == EPERM || err == EXDEV || err == ENOSYS
	    || err == EOPNOTSUPP);
}

/* commit - move tmp/NAME to new/NAME,S=size and make it durable */
static void
commit(const char *dir, const char *name, uintmax_t size)
{
	char new_dir[PATH_MAX];
	struct stat st;

	make_path(new_dir, sizeof(new_dir), "%s/new", dir);
	make_path(new_path, sizeof(new_path), "%s/%s,S=%ju", new_dir, name,
	    size);

	/*
	 * From here on a termination signal stays pending until exit: the
	 * handler cannot know whether new/ is durable, and fail() cleans up.
	 */
	block_signals(1);
	if (link(tmp_path, new_path) == 0) {
		have_new = 1;
		if (unlink(tmp_path) < 0)
			warn(errno, "cannot remove %s", tmp_path);
		else
			have_tmp = 0;
	} else if (link_unsupported(errno)) {
		/* rename() would replace an existing file: refuse that. */
		if (lstat(new_path, &st) == 0)
			fail(EEXIST, "cannot rename %s to %s", tmp_path,
			    new_path);
		if (errno != ENOENT)
			fail(errno, "cannot stat %s", new_path);
		if (rename(tmp_path, new_path) < 0)
			fail(errno, "cannot rename %s to %s", tmp_path,
			    new_path);
		have_tmp = 0;
		have_new = 1;
	} else {
		fail(errno, "cannot link %s to %s", tmp_path, new_path);
	}
	sync_dir(new_dir);
	have_new = 0;			/* delivered: keep it */
	counter++;
	block_signals(0);
}

/* copy_exact - copy exactly SIZE bytes of standard input (stdio) to fd */
static void
copy_exact(int fd, uintmax_t size)
{
	static char buf[COPY_BUFSIZE];

	while (size > 0) {
		size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		size_t n = fread(buf, 1, want, stdin);

		if (n == 0)
			fail(ferror(stdin) ? errno : EPIPE,
			    "the message ended before its announced size");
		write_tmp(fd, buf, n);
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
	char line[8192], name[NAME_MAX + 1];
	uintmax_t size = 0;
	int fd, have_size = 0, held = 0;
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
		fd = create_tmp(to, name, sizeof(name) - 24);
		copy_exact(fd, size);
		finish_tmp(fd, size);
		commit(to, name, size);
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
	char name[NAME_MAX + 1];
	uintmax_t size;
	int fd;
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
	/* Leave room in NAME_MAX for the ",S=<size>" suffix. */
	fd = create_tmp(to, name, sizeof(name) - 24);
	size = copy_stdin(fd);
	finish_tmp(fd, size);
	commit(to, name, size);
	return (EX_OK);
}
