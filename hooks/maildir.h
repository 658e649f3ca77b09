/* SPDX-License-Identifier: ISC */
/*
 * maildir.h - what postern-maildir.c (the process: arguments, the policy
 * protocol, signals, errors) and maildir-store.c (the files: creating,
 * syncing and naming one message in a Maildir) share.
 */
#ifndef POSTERN_MAILDIR_H
#define POSTERN_MAILDIR_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define PROG		"postern-maildir"

/*
 * State shared with fail() and the signal handler.  The paths are only
 * written while the corresponding flag is 0, so the handler never sees a
 * path that is being modified.  An anonymous file (O_TMPFILE) has no
 * name in tmp/: have_tmp stays 0 and tmp_path is only its name in
 * messages.
 */
extern char tmp_path[PATH_MAX];		/* DIR/tmp/NAME */
extern char new_path[PATH_MAX];		/* DIR/new/NAME,S=size */
extern volatile sig_atomic_t have_tmp;	/* tmp_path exists and is ours */
extern volatile sig_atomic_t have_new;	/* new_path exists, not yet durable */

/* One message being written: its descriptor and how it was created. */
struct msgfile {
	int fd;
	int anonymous;			/* O_TMPFILE: no name until commit */
	char name[NAME_MAX + 1];	/* SEC.MusecPpidQn.host */
};

/* postern-maildir.c */
__attribute__((noreturn, format(printf, 2, 3)))
void fail(int err, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void warn(int err, const char *fmt, ...);
void block_signals(int block);

/* maildir-store.c */
__attribute__((format(printf, 3, 4)))
void make_path(char *buf, size_t size, const char *fmt, ...);
void make_maildir(const char *dir);
void store_open(const char *dir, struct msgfile *m);
void store_write(struct msgfile *m, const char *buf, size_t len);
void store_commit(const char *dir, struct msgfile *m, uintmax_t size);

#endif
