/*
 * hook.h - run a hook program (DESIGN.md "Hooks"): execve without a shell,
 * own process group, clean environment, stdin/fd 3 as given, the answer taken
 * from the exit status and an optional SMTP reply on the first stdout line.
 */
#ifndef POSTERN_HOOK_H
#define POSTERN_HOOK_H

#include <stddef.h>
#include "../common/config.h"

enum hook_verdict {
	HOOK_ACCEPT,            /* exit 0 */
	HOOK_REJECT,            /* exit 1, 67, 68, 77: permanent */
	HOOK_TEMPFAIL,          /* exit 75 */
	HOOK_FAILED,            /* anything else: a signal, a timeout, no start */
};

struct hook_env {
	char **vars;
	size_t n, cap;
};

void hook_env_init(struct hook_env *);
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
};

struct hook_result {
	enum hook_verdict verdict;
	int exit_status;        /* -1 if it did not exit normally */
	int timed_out;
	/* A valid first stdout line of the class the verdict calls for, else "". */
	char reply[512];
};

void hook_run(const struct hook_call *, struct hook_result *);

/* Parse an SMTP reply line; returns the code (200-599) or 0. */
int hook_reply_code(const char *line);

#endif
