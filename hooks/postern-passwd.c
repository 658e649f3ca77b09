/*
 * postern-passwd - an auth hook for Postern: checks a user name and
 * password against a file of "user:hash" lines, hashes as crypt(3) makes
 * them (yescrypt "$y$", SHA-512 "$6$", ...; e.g. `mkpasswd -m yescrypt`
 * from Debian's whois package).
 *
 * usage: postern-passwd FILE
 * stdin: "user\npassword\n" and, when the client gave one, "authzid\n".
 * exit:  0 the password is right; 1 it is not, the user is unknown, or an
 *        authzid other than the user was asked for; 75 the file cannot be
 *        read or a line is malformed (a temporary failure: fix the file).
 *
 * Lines that are empty or start with '#' are ignored.  An unknown user
 * still costs one crypt() with a dummy hash, and hashes are compared in
 * constant time, so timing tells nothing about which part was wrong.
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

/* A valid yescrypt hash of a random password nobody knows. */
static const char dummy_hash[] = "$y$j9T$3ZRpR0UfeE1P6C4Cc0xXt/$Hf0ZgEp3tT2r1ePRDYc7dpOWG1wQ2ZL6Kbq9s2oA8L4";

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
 * Returns 0, 1 at the end of input (nothing read), -1 if malformed. */
static int
read_field(char *buf, size_t len)
{
	size_t n = 0;
	int c;

	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= len || c == '\0' || c == '\r')
			return -1;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return c == EOF && n == 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	char user[FIELD_MAX], password[FIELD_MAX], authzid[FIELD_MAX];
	char line[1024], hash[512];
	const char *result;
	struct crypt_data cd;
	FILE *f;
	unsigned long lineno = 0;
	int found = 0, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: postern-passwd FILE (a file of user:hash lines)\n");
		return EX_TEMPFAIL;
	}
	if (read_field(user, sizeof(user)) != 0 || read_field(password, sizeof(password)) != 0) {
		fprintf(stderr, "postern-passwd: expected user and password lines on stdin\n");
		wipe_exit(EX_REJECT, password, sizeof(password), line, sizeof(line));
	}
	authzid[0] = '\0';
	rc = read_field(authzid, sizeof(authzid));
	if (rc < 0 || (rc == 0 && authzid[0] != '\0' && strcmp(authzid, user) != 0)) {
		fprintf(stderr, "postern-passwd: %s may not act as %s\n", user, authzid);
		wipe_exit(EX_REJECT, password, sizeof(password), line, sizeof(line));
	}
	if ((f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "postern-passwd: cannot read %s: %s (it must be readable by the postern user)\n",
		    argv[1], strerror(errno));
		wipe_exit(EX_TEMPFAIL, password, sizeof(password), line, sizeof(line));
	}
	hash[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon, *end;
		lineno++;
		if ((end = strchr(line, '\n')) == NULL && !feof(f)) {
			fprintf(stderr, "postern-passwd: %s:%lu: line too long\n", argv[1], lineno);
			fclose(f);
			wipe_exit(EX_TEMPFAIL, password, sizeof(password), line, sizeof(line));
		}
		if (end != NULL)
			*end = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL) {
			fprintf(stderr, "postern-passwd: %s:%lu: expected user:hash\n", argv[1], lineno);
			fclose(f);
			wipe_exit(EX_TEMPFAIL, password, sizeof(password), line, sizeof(line));
		}
		*colon = '\0';
		if (!found && strcmp(line, user) == 0) {
			size_t hl = strcspn(colon + 1, ":");  /* allow trailing fields */
			if (hl >= sizeof(hash)) {
				fclose(f);
				wipe_exit(EX_TEMPFAIL, password, sizeof(password), line, sizeof(line));
			}
			memcpy(hash, colon + 1, hl);
			hash[hl] = '\0';
			found = 1;
		}
	}
	fclose(f);
	memset(&cd, 0, sizeof(cd));
	result = crypt_r(password, found ? hash : dummy_hash, &cd);
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
