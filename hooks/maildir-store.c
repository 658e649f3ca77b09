/* SPDX-License-Identifier: ISC */
/*
 * maildir-store.c - create the Maildir, write one message into it and make
 * it durable, for postern-maildir (cr.yp.to/proto/maildir.html).
 *
 * A message is born in DIR/tmp and appears in DIR/new under its final
 * name only once its bytes are on disk; postern-maildir answers only after
 * that name is on disk as well.  Where the kernel has O_TMPFILE (Linux 3.11
 * and later, on ext4, XFS, btrfs, tmpfs...) the file in tmp/ is anonymous:
 *
 *   open(DIR/tmp, O_TMPFILE)  write  fdatasync(file)
 *   linkat(file, DIR/new/NAME)  fsync(DIR/new) and fsync(file) at once
 *
 * fdatasync makes the bytes and what is needed to read them (size, block
 * map) durable before the name exists; fsync(DIR/new) makes the name
 * durable; the last fsync(file) the link count that linkat raised from 0
 * to 1 (a file system without a journal writes the inode only then; with
 * a journal the directory's commit carries it).  The last two do not
 * depend on each other and go to the disk together (fsync-pair.c): a
 * delivery waits for the disk twice, as with a named tmp/ file.
 * No tmp/ name is created or removed: a crash or a kill at any point
 * leaves nothing behind in tmp/, and the tmp/ directory is never locked.
 * Elsewhere (no O_TMPFILE, no /proc to name the file by, or a file system
 * that refuses to link an unnamed file: that message is copied to a named
 * file, and the process stays with those) the file gets a name in tmp/ as
 * in qmail:
 *
 *   open(DIR/tmp/NAME, O_CREAT|O_EXCL)  write  fsync(file)
 *   link(tmp/NAME, new/NAME) or rename()  unlink(tmp/NAME)  fsync(DIR/new)
 */

#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/writeall.h"
#include "fsync-pair.h"
#include "maildir.h"

#define MAX_TRIES	20		/* attempts at an unused name */
#define HOST_MAXESC	100		/* max length of the escaped hostname */
#define SIZE_ROOM	24		/* NAME_MAX left for ",S=<size>" */

char tmp_path[PATH_MAX];
char new_path[PATH_MAX];
volatile sig_atomic_t have_tmp;
volatile sig_atomic_t have_new;

static unsigned counter;		/* Q in the names: one more per delivery */
static int anon_unusable = -1;		/* O_TMPFILE: -1 not known, 1 not here */

/* make_path - snprintf a path, exit 75 if it does not fit */
void
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

/* dir_synced - check the result (0 or an errno value) of a directory's fsync */
static void
dir_synced(int err, const char *path)
{
	if (err == 0)
		return;
	/* EINVAL: this file system cannot sync directories at all. */
	if (err != EINVAL)
		fail(err, "cannot fsync directory %s", path);
	warn(err, "cannot fsync directory %s", path);
}

/* sync_dir_fd - make the entries of an open directory durable */
static void
sync_dir_fd(int fd, const char *path)
{
	dir_synced(fsync(fd) < 0 ? errno : 0, path);
}

/* open_dir - open a directory for fsync and linkat */
static int
open_dir(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail(errno, "cannot open directory %s", path);
	return (fd);
}

/* sync_dir - make the entries of a directory durable */
static void
sync_dir(const char *path)
{
	int fd = open_dir(path);

	sync_dir_fd(fd, path);
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
void
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

/* make_name - a new unique name SEC.MusecPpidQn.host (host and pid once) */
static void
make_name(char *name, size_t size)
{
	static char host[HOST_MAXESC + 1];
	static long pid;
	struct timespec ts;

	if (pid == 0) {
		get_host(host, sizeof(host));
		pid = (long)getpid();
	}
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		fail(errno, "cannot read the clock");
	make_path(name, size, "%lld.M%06ldP%ldQ%u.%s", (long long)ts.tv_sec,
	    (long)(ts.tv_nsec / 1000), pid, counter, host);
}

/*
 * open_anonymous - an O_TMPFILE in DIR/tmp; -1 where this system cannot
 * (then never tried again).  linkat() names it through /proc/self/fd.
 */
static int
open_anonymous(const char *tmp_dir)
{
#ifdef O_TMPFILE
	int fd;

	if (anon_unusable < 0)
		anon_unusable = access("/proc/self/fd", X_OK) < 0;
	if (anon_unusable)
		return (-1);
	/* Readable: copy_to_named() may need to read it back. */
	if ((fd = open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return (fd);
	/* An old kernel (EISDIR) or a file system without it. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL
	    && errno != ENOSYS)
		fail(errno, "cannot create a file in %s", tmp_dir);
	anon_unusable = 1;
#else
	(void)tmp_dir;
#endif
	return (-1);
}

/* store_open - create the message's file in DIR/tmp */
void
store_open(const char *dir, struct msgfile *m)
{
	char tmp_dir[PATH_MAX];
	unsigned tries;
	int err;

	make_path(tmp_dir, sizeof(tmp_dir), "%s/tmp", dir);
	for (tries = 0; ; tries++, counter++) {
		/* Leave room in NAME_MAX for the ",S=<size>" suffix. */
		make_name(m->name, sizeof(m->name) - SIZE_ROOM);
		make_path(tmp_path, sizeof(tmp_path), "%s/%s", tmp_dir,
		    m->name);
		if ((m->fd = open_anonymous(tmp_dir)) >= 0) {
			m->anonymous = 1;
			return;
		}
		m->anonymous = 0;

		block_signals(1);
		m->fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
		    | O_NOCTTY, 0600);
		err = errno;
		if (m->fd >= 0)
			have_tmp = 1;
		block_signals(0);

		if (m->fd >= 0)
			return;
		if (err != EEXIST || tries + 1 >= MAX_TRIES)
			fail(err, "cannot create %s", tmp_path);
	}
}

/* store_write - write a whole buffer to the message's file, or fail */
void
store_write(struct msgfile *m, const char *buf, size_t len)
{
	if (write_all(m->fd, buf, len, NULL) < 0)
		fail(errno, "cannot write %s", tmp_path);
}

/* sync_file - the bytes (and the size) on disk, checked, before any name */
static void
sync_file(struct msgfile *m, uintmax_t size)
{
	struct stat st;

	if ((m->anonymous ? fdatasync(m->fd) : fsync(m->fd)) < 0)
		fail(errno, "cannot %s %s", m->anonymous ? "fdatasync" : "fsync",
		    tmp_path);
	if (fstat(m->fd, &st) < 0)
		fail(errno, "cannot stat %s", tmp_path);
	if (st.st_size < 0 || (uintmax_t)st.st_size != size)
		fail(EIO, "%s has %jd bytes, wrote %ju", tmp_path,
		    (intmax_t)st.st_size, size);
}

/* link_unsupported - does this link() error mean "use rename()"? */
static int
link_unsupported(int err)
{
	return (err == EPERM || err == EXDEV || err == ENOSYS
	    || err == EOPNOTSUPP);
}

/* link_named - tmp/NAME becomes new/NAME,S=size (signals blocked) */
static void
link_named(void)
{
	struct stat st;

	if (link(tmp_path, new_path) == 0) {
		have_new = 1;
		if (unlink(tmp_path) < 0)
			warn(errno, "cannot remove %s", tmp_path);
		else
			have_tmp = 0;
		return;
	}
	if (!link_unsupported(errno))
		fail(errno, "cannot link %s to %s", tmp_path, new_path);
	/* rename() would replace an existing file: refuse that. */
	if (lstat(new_path, &st) == 0)
		fail(EEXIST, "cannot rename %s to %s", tmp_path, new_path);
	if (errno != ENOENT)
		fail(errno, "cannot stat %s", new_path);
	if (rename(tmp_path, new_path) < 0)
		fail(errno, "cannot rename %s to %s", tmp_path, new_path);
	have_tmp = 0;
	have_new = 1;
}

/* link_anonymous - the O_TMPFILE gets the name new/NAME,S=size; a name
 * taken already (two deliveries in one microsecond elsewhere) means a new
 * name.  Returns -1 where the file system cannot link it (copy_to_named()
 * then).  Signals blocked. */
static int
link_anonymous(struct msgfile *m, int new_fd, const char *new_dir,
    uintmax_t size)
{
	char proc[64], base[NAME_MAX + 1];
	unsigned tries;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m->fd);
	for (tries = 0; ; tries++) {
		make_path(base, sizeof(base), "%s,S=%ju", m->name, size);
		make_path(new_path, sizeof(new_path), "%s/%s", new_dir, base);
		if (linkat(AT_FDCWD, proc, new_fd, base, AT_SYMLINK_FOLLOW) == 0)
			break;
		if (link_unsupported(errno))
			return (-1);
		if (errno != EEXIST || tries + 1 >= MAX_TRIES)
			fail(errno, "cannot link %s to %s", tmp_path, new_path);
		counter++;
		make_name(m->name, sizeof(m->name) - SIZE_ROOM);
	}
	have_new = 1;
	return (0);
}

/* copy_to_named - a file system that makes O_TMPFILEs but cannot link
 * them: copy the message to tmp/NAME, synced, and deliver that; no more
 * anonymous files in this process.  Signals blocked. */
static void
copy_to_named(struct msgfile *m, uintmax_t size)
{
	static char buf[64 * 1024];
	uintmax_t off = 0;
	int fd;

	warn(0, "cannot link an unnamed file into new/ here: "
	    "using named files in tmp/");
	anon_unusable = 1;
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (fd < 0)
		fail(errno, "cannot create %s", tmp_path);
	have_tmp = 1;
	while (off < size) {
		ssize_t n = pread(m->fd, buf, sizeof(buf), (off_t)off);

		if (n <= 0)
			fail(n < 0 ? errno : EIO, "cannot read back %s", tmp_path);
		if (write_all(fd, buf, (size_t)n, NULL) < 0)
			fail(errno, "cannot write %s", tmp_path);
		off += (uintmax_t)n;
	}
	(void)close(m->fd);
	m->fd = fd;
	m->anonymous = 0;
	sync_file(m, size);
}

/* store_commit - give the message its name in new/ and make it durable */
void
store_commit(const char *dir, struct msgfile *m, uintmax_t size)
{
	char new_dir[PATH_MAX];
	int new_fd;

	sync_file(m, size);
	make_path(new_dir, sizeof(new_dir), "%s/new", dir);
	new_fd = open_dir(new_dir);

	/*
	 * From here on a termination signal stays pending until exit: the
	 * handler cannot know whether new/ is durable, and fail() cleans up.
	 */
	block_signals(1);
	if (m->anonymous && link_anonymous(m, new_fd, new_dir, size) < 0)
		copy_to_named(m, size);
	if (!m->anonymous) {
		make_path(new_path, sizeof(new_path), "%s/%s,S=%ju", new_dir,
		    m->name, size);
		link_named();
	}
	if (m->anonymous) {
		int err_dir, err_file;

		/* The name, and the link count linkat() gave the file. */
		fsync_pair(new_fd, m->fd, &err_dir, &err_file);
		dir_synced(err_dir, new_dir);
		if (err_file != 0)
			fail(err_file, "cannot fsync %s", new_path);
	} else {
		sync_dir_fd(new_fd, new_dir);
	}
	if (close(m->fd) < 0)
		fail(errno, "cannot close %s", new_path);
	m->fd = -1;
	(void)close(new_fd);
	have_new = 0;			/* delivered: keep it */
	counter++;
	block_signals(0);
}
