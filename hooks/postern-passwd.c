/* SPDX-License-Identifier: ISC */
/*
 * postern-passwd - an auth hook for Postern: checks a user name and
 * password against a file of "user:hash" lines, hashes as crypt(3) makes
 * them (yescrypt "$y$", SHA-512 "$6$", ...; e.g. `mkpasswd -m yescrypt`
 * from Debian's whois package).
 *
 * usage: postern-passwd FILE
 * stdin: "user\npassword\n" and, when the client gave one, "authzid\n".
 * exit:  0 the password is right; 1 it is not, the user is unknown or
 *        locked (a hash that is empty or starts with '!' or '*'), or an
 *        authzid other than the user was asked for; 75 the file cannot be
 *        read or a line is malformed (a temporary failure: fix the file).
 *
 * Lines that are empty or start with '#' are ignored.  An unknown or locked
 * user still costs one crypt() with a dummy of the file's most common hash
 * kind and cost (as OpenSSH takes its fake password's hash from the
 * system's settings), and hashes are compared in constant time, so neither
 * the time taken nor the exit status tells which users exist.
 */
#include "autoconf.h"
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EX_OK_          0
#define EX_REJECT       1
#define EX_TEMPFAIL     75
#define FIELD_MAX       256
#define KINDS_MAX       16

/* A valid yescrypt hash of a random password nobody knows: the dummy for a
 * file without a single usable hash. */
static const char default_dummy[] = "$y$j9T$3ZRpR0UfeE1P6C4Cc0xXt/$Hf0ZgEp3tT2r1ePRDYc7dpOWG1wQ2ZL6Kbq9s2oA8L4";

/* Constant-time comparison (libbsd's timingsafe_bcmp is not in every
 * libbsd, e.g. not Debian 12's). */
static int
equal_ct(const char *a, const char *b, size_t n)
{
	volatile unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static void
wipe_exit(int code, char *a, size_t alen, char *b, size_t blen)
{
	explicit_bzero(a, alen);
	explicit_bzero(b, blen);
	exit(code);
}

/* Read one LF-terminated line of stdin into BUF (without the LF).
 * Returns 0, 1 at the end of input (nothing read), -1 if malformed (too
 * long, or a NUL or CR in it).  BUF is a string whatever it returns. */
static int
read_field(char *buf, size_t len)
{
	size_t n = 0;
	int c;

	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= len || c == '\0' || c == '\r') {
			buf[n] = '\0';
			return -1;
		}
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return c == EOF && n == 0 ? 1 : 0;
}

/* The hash kinds of a file (method and cost, without salt and hash) and how
 * often each occurs; the first hash of each kind is kept as its dummy. */
struct kinds {
	char kind[KINDS_MAX][64];
	char sample[KINDS_MAX][512];
	unsigned count[KINDS_MAX];
	int n;
};

static int
locked(const char *hash)
{
	return hash[0] == '\0' || hash[0] == '!' || hash[0] == '*';
}

/* HASH's kind: "$6$", "$6$rounds=N$", "$y$j9T$", "$2b$12$" ... (up to the
 * '$' before the salt), or "" for DES and unknown shapes. */
static void
hash_kind(const char *hash, char *kind, size_t len)
{
	const char *last, *cut;

	kind[0] = '\0';
	if (hash[0] != '$' || (last = strrchr(hash, '$')) == hash)
		return;
	cut = last;                     /* "$2b$12$" + salt and hash in one field */
	if (!(hash[1] == '2' && hash[3] == '$')) {
		/* "$id$[params$]salt$hash": drop the salt too */
		for (cut = last - 1; cut > hash && *cut != '$'; cut--)
			;
	}
	if ((size_t)(cut - hash + 1) < len) {
		memcpy(kind, hash, (size_t)(cut - hash + 1));
		kind[cut - hash + 1] = '\0';
	}
}

static void
kinds_add(struct kinds *k, const char *hash)
{
	char kind[64];
	int i;

	if (locked(hash) || strlen(hash) >= sizeof(k->sample[0]))
		return;
	hash_kind(hash, kind, sizeof(kind));
	for (i = 0; i < k->n; i++)
		if (strcmp(k->kind[i], kind) == 0) {
			k->count[i]++;
			return;
		}
	if (k->n == KINDS_MAX)
		return;
	strlcpy(k->kind[k->n], kind, sizeof(k->kind[0]));
	strlcpy(k->sample[k->n], hash, sizeof(k->sample[0]));
	k->count[k->n++] = 1;
}

/* The dummy: a hash of the most common kind (the first such on a tie). */
static const char *
kinds_dummy(const struct kinds *k)
{
	int i, best = -1;

	for (i = 0; i < k->n; i++)
		if (best < 0 || k->count[i] > k->count[best])
			best = i;
	return best < 0 ? default_dummy : k->sample[best];
}

/* S for stderr: printable ASCII, anything else as \xNN. */
static void
put_escaped(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c > 0x7e || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
}

/* Read PATH: USER's hash into HASH (*FOUND set), every hash's kind into
 * KINDS.  Returns 0 or EX_TEMPFAIL (the reason on stderr). */
static int
scan_file(const char *path, const char *user, char *hash, size_t hashlen,
    struct kinds *kinds, int *found)
{
	char line[1024];
	unsigned long lineno = 0;
	FILE *f;

	hash[0] = '\0';
	memset(kinds, 0, sizeof(*kinds));
	*found = 0;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "postern-passwd: cannot read %s: %s (it must be readable by the postern user)\n",
		    path, strerror(errno));
		return EX_TEMPFAIL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon, *end;
		lineno++;
		if ((end = strchr(line, '\n')) == NULL && !feof(f)) {
			fprintf(stderr, "postern-passwd: %s:%lu: line too long\n", path, lineno);
			fclose(f);
			return EX_TEMPFAIL;
		}
		if (end != NULL)
			*end = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL) {
			fprintf(stderr, "postern-passwd: %s:%lu: expected user:hash\n", path, lineno);
			fclose(f);
			return EX_TEMPFAIL;
		}
		*colon = '\0';
		colon[1 + strcspn(colon + 1, ":")] = '\0';     /* allow trailing fields */
		kinds_add(kinds, colon + 1);
		if (!*found && strcmp(line, user) == 0) {
			if (strlen(colon + 1) >= hashlen) {
				fclose(f);
				return EX_TEMPFAIL;
			}
			strlcpy(hash, colon + 1, hashlen);
			*found = 1;
		}
	}
	fclose(f);
	explicit_bzero(line, sizeof(line));
	return 0;
}

int
main(int argc, char **argv)
{
	char user[FIELD_MAX], password[FIELD_MAX], authzid[FIELD_MAX];
	char hash[512];
	const char *result;
	struct crypt_data cd;
	struct kinds kinds;
	int found = 0, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: postern-passwd FILE (a file of user:hash lines)\n");
		return EX_TEMPFAIL;
	}
	if (read_field(user, sizeof(user)) != 0 || read_field(password, sizeof(password)) != 0) {
		fprintf(stderr, "postern-passwd: expected user and password lines on stdin\n");
		wipe_exit(EX_REJECT, password, sizeof(password), hash, sizeof(hash));
	}
	authzid[0] = '\0';
	rc = read_field(authzid, sizeof(authzid));
	if (rc < 0) {
		fprintf(stderr, "postern-passwd: the authorization identity (third line) is longer than %d octets"
		    " or holds a NUL or CR: refused\n", FIELD_MAX - 1);
		wipe_exit(EX_REJECT, password, sizeof(password), hash, sizeof(hash));
	}
	if (rc == 0 && authzid[0] != '\0' && strcmp(authzid, user) != 0) {
		fputs("postern-passwd: ", stderr);
		put_escaped(user);
		fputs(" may not act as ", stderr);
		put_escaped(authzid);
		fputc('\n', stderr);
		wipe_exit(EX_REJECT, password, sizeof(password), hash, sizeof(hash));
	}
	if ((rc = scan_file(argv[1], user, hash, sizeof(hash), &kinds, &found)) != 0)
		wipe_exit(rc, password, sizeof(password), hash, sizeof(hash));
	if (found && locked(hash))
		found = 0;      /* locked: refused, after the same work */
	memset(&cd, 0, sizeof(cd));
	result = crypt_r(password, found ? hash : kinds_dummy(&kinds), &cd);
	explicit_bzero(password, sizeof(password));
	if (result == NULL || result[0] == '*') {
		if (found) {
			fprintf(stderr, "postern-passwd: %s: the hash of %s is not one crypt(3) knows\n", argv[1], user);
			explicit_bzero(&cd, sizeof(cd));
			return EX_TEMPFAIL;
		}
		explicit_bzero(&cd, sizeof(cd));
		return EX_REJECT;
	}
	if (found && strlen(result) == strlen(hash) &&
	    equal_ct(result, hash, strlen(hash))) {
		explicit_bzero(&cd, sizeof(cd));
		return EX_OK_;
	}
	explicit_bzero(&cd, sizeof(cd));
	return EX_REJECT;
}
