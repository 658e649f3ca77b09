/*
 * hook.h - run a hook program (DESIGN.md "Hooks"): execve without a shell,
 * own session and process group, clean environment, stdin/fd 3 as given, the answer taken
 * from the exit status and an optional SMTP reply on the first stdout line.
 */
#ifndef POSTERN_HOOK_H
#define POSTERN_HOOK_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "../common/config.h"

enum hook_verdict {
	HOOK_ACCEPT,            /* exit 0 */
	HOOK_REJECT,            /* exit 1, 67, 68, 77: permanent */
	HOOK_TEMPFAIL,          /* exit 75 */
	HOOK_FAILED,            /* anything else: a signal, a timeout, no start */
};

/*
 * The variables a hook is told: an environment ("NAME=value" strings) for an
 * exec hook, or, in request mode, one policy request ("name=value" lines in
 * one buffer) for a persistent hook: there POSTERN_* names are lower-cased,
 * other upper-case names (PATH, TCP*, PROTO) are left out, and so are values
 * of more than one line.  One list of variables (session_hook_env) feeds
 * both.
 */
struct hook_env {
	char **vars;
	size_t n, cap;
	int request;            /* request mode: req, reqlen, reqcap */
	char *req;
	size_t reqlen, reqcap;
};

void hook_env_init(struct hook_env *);
void hook_env_init_request(struct hook_env *);
/* Add NAME=VALUE (VALUE NULL: skipped). */
void hook_env_add(struct hook_env *, const char *name, const char *value);
void hook_env_addf(struct hook_env *, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hook_env_free(struct hook_env *);

struct hook_call {
	enum hook_kind kind;
	const struct hook_command *cmd;
	const char *directory;  /* working directory */
	int stdin_fd;           /* -1: empty stdin */
	const char *fd3;        /* data for fd 3, NULL: fd 3 is closed */
	size_t fd3_len;
	struct hook_env *env;
	int checkpassword;      /* exit 111 is a temporary failure (qmail's convention) */
};

struct hook_result {
	enum hook_verdict verdict;
	int exit_status;        /* -1 if it did not exit normally */
	int timed_out;
	/* A valid first stdout line of the class the verdict calls for, else "". */
	char reply[512];
};

void hook_run(const struct hook_call *, struct hook_result *);

/* The pieces hook_run is made of, shared with the persistent hooks
 * (policy.c). */

/* posix_spawn ARGV in a session of its own (setsid), with an empty signal mask and
 * default signal actions, descriptors IN, OUT, ERR (and FD3 if >= 0) as
 * 0-3 and nothing else, in DIRECTORY.  Returns 0 or an errno value. */
int hook_spawn(char *const argv[], char *const envp[], const char *directory,
    int in, int out, int err, int fd3, pid_t *pid);
/* A copy of FD at 10 or above (FD is closed), so dup2 onto 0-3 is safe. */
int hook_fd_high(int fd);
/* SIGTERM the process group and its leader PID, wait up to 2 s on PIDFD,
 * then SIGKILL them. */
void hook_kill_group(pid_t pid, int pidfd);
/* Reap PID (killed) within a second: 0, or -1 when it is left for
 * hook_reap_pending(), which reaps such leftovers without waiting. */
int hook_reap(pid_t pid, int pidfd, int *status);
void hook_reap_pending(void);
/* Milliseconds until DEADLINE (CLOCK_MONOTONIC), negative when past. */
long hook_ms_left(const struct timespec *deadline);

/* A hook's stderr, logged line by line (at most STDERR_LINES per run). */
#define STDERR_LINE_MAX 512
#define STDERR_LINES    50
struct stderr_log {
	char line[STDERR_LINE_MAX];
	size_t len;
	int lines;
	const char *name;
};
void stderr_feed(struct stderr_log *, const char *p, size_t n);
void stderr_flush_line(struct stderr_log *);

/* Parse an SMTP reply line; returns the code (200-599) or 0. */
int hook_reply_code(const char *line);

#endif
