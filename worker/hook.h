/* SPDX-License-Identifier: ISC */
/*
 * hook.h - run a hook program (DESIGN.md "Hooks"): execve without a shell,
 * own session and process group, clean environment, stdin/fd 3 as given, the answer taken
 * from the exit status and an optional SMTP reply on the first stdout line.
 */
#ifndef POSTERN_HOOK_H
#define POSTERN_HOOK_H

#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include "../common/config.h"
#include "child.h"

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
	/* request mode (policy_request.c): how a variable is added to req */
	void (*add_request)(struct hook_env *, const char *name, size_t namelen,
	    const char *value, size_t valuelen);
	char *req;
	size_t reqlen, reqcap;
	const char *only;       /* request mode: " name name " of the attributes sent, NULL: all */
};

void hook_env_init(struct hook_env *);
/* Add NAME=VALUE, NAMELEN and VALUELEN octets. */
void hook_env_addn(struct hook_env *, const char *name, size_t namelen,
    const char *value, size_t valuelen);
/* Add NAME=VALUE (VALUE NULL: skipped).  Inline, so that the length of a
 * literal NAME is known at compile time. */
static inline void
hook_env_add(struct hook_env *e, const char *name, const char *value)
{
	if (value != NULL)
		hook_env_addn(e, name, strlen(name), value, strlen(value));
}
/* Add NAME=V in decimal (no stdio: this is on every message's path). */
void hook_env_add_num(struct hook_env *, const char *name, long long v);
/* "A.N": A, a dot, the decimal N (queue ids). */
void hook_env_add_dotnum(struct hook_env *, const char *name, const char *a, long long n);
/* Add NAME=VALUE when VALUE was given: an empty value is no value. */
void hook_env_add_given(struct hook_env *, const char *name, const char *value);
void hook_env_addf(struct hook_env *, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hook_env_free(struct hook_env *);

struct hook_call {
	enum hook_kind kind;
	const char *name;       /* the step's name, for the log */
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
	/* Headers the hook wants added ("PREPEND Name: value" lines of an exec
	 * hook, action=PREPEND of a policy hook): "Name: value\n" each, not yet
	 * checked (the pipeline checks them: header_check). */
	char prepend[8192];
	size_t prepend_len;
	int prepend_lost;       /* more than fits in prepend: the rest is dropped */
};

/* Did the hook give its own reply line (RES->reply)? */
static inline int
hook_result_has_reply(const struct hook_result *res)
{
	return res->reply[0] != '\0';
}

/* A result that says HOOK_FAILED and holds nothing else. */
void hook_result_init(struct hook_result *);
/* Add one PREPEND text (LEN octets) to RES. */
void hook_result_prepend(struct hook_result *, const char *text, size_t len);

void hook_run(const struct hook_call *, struct hook_result *);

/* Parse an SMTP reply line; returns the code (200-599) or 0. */
int hook_reply_code(const char *line);

#endif
