/* SPDX-License-Identifier: ISC */
/*
 * tls_ticket.c - read and write the session-ticket key file (format in
 * tls_ticket.h).  The key is secret: its bytes are wiped before they are
 * freed, and a file others can read is refused.
 */
#include "autoconf.h"
#include "tls_ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#define FILE_MAX 1024           /* the key is 88 characters of base64 */

int
tls_ticket_read(const char *path, gnutls_datum_t *key, char *err, size_t errlen)
{
	char buf[FILE_MAX + 1], b64[FILE_MAX + 1];
	gnutls_datum_t in;
	struct stat st;
	ssize_t n;
	size_t i, len = 0;
	int fd, rc;

	memset(key, 0, sizeof(*key));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "[tls] ticket_key_file: cannot read %s: %s (make one with postern-ticket-key %s)",
		    path, strerror(errno), path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 007) != 0) {
		snprintf(err, errlen, "[tls] ticket_key_file: %s is not a regular file that only its owner and group may read (chmod 600 %s)",
		    path, path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > FILE_MAX) {
		snprintf(err, errlen, "[tls] ticket_key_file: %s: %s", path, n < 0 ? strerror(errno) : "too long to be a key");
		return -1;
	}
	for (i = 0; i < (size_t)n; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
			b64[len++] = buf[i];
	gnutls_memset(buf, 0, sizeof(buf));
	in.data = (unsigned char *)b64;
	in.size = (unsigned)len;
	rc = gnutls_base64_decode2(&in, key);
	gnutls_memset(b64, 0, sizeof(b64));
	if (rc < 0 || key->size != TLS_TICKET_KEY_SIZE) {
		if (rc >= 0) {
			gnutls_memset(key->data, 0, key->size);
			gnutls_free(key->data);
		}
		memset(key, 0, sizeof(*key));
		snprintf(err, errlen, "[tls] ticket_key_file: %s is not the base64 of %d octets (make a new one with postern-ticket-key %s)",
		    path, TLS_TICKET_KEY_SIZE, path);
		return -1;
	}
	return 0;
}

int
tls_ticket_write(const char *path, char *err, size_t errlen)
{
	unsigned char raw[TLS_TICKET_KEY_SIZE];
	gnutls_datum_t in = { raw, sizeof(raw) }, out = { NULL, 0 };
	char tmp[4096];
	int fd, rc, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((rc = gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw))) < 0 ||
	    (rc = gnutls_base64_encode2(&in, &out)) < 0) {
		gnutls_memset(raw, 0, sizeof(raw));
		snprintf(err, errlen, "cannot make a key: %s", gnutls_strerror(rc));
		return -1;
	}
	gnutls_memset(raw, 0, sizeof(raw));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto fail;
	}
	ok = write(fd, out.data, out.size) == (ssize_t)out.size && write(fd, "\n", 1) == 1 &&
	    fchmod(fd, 0600) == 0 && fsync(fd) == 0;
	if (close(fd) < 0 || !ok || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return 0;
fail:
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return -1;
}
