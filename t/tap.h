/* SPDX-License-Identifier: ISC */
/*
 * tap.h - the smallest TAP producer for the C unit tests: ok(), is_int(),
 * is_str() and done_testing().  Test Anything Protocol version 12.
 */
#ifndef POSTERN_TAP_H
#define POSTERN_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int
ok_(int cond, const char *file, int line, const char *name)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	if (!cond) {
		tap_failed++;
		printf("#   Failed test at %s line %d\n", file, line);
	}
	return cond;
}
#define ok(cond, name) ok_((cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (!ok(g_ == w_, name)) printf("#   got %lld, expected %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!ok(g_ != NULL && strcmp(g_, w_) == 0, name)) \
		printf("#   got '%s', expected '%s'\n", g_ ? g_ : "(null)", w_); \
} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
