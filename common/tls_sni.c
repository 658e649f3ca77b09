/* SPDX-License-Identifier: ISC */
/*
 * tls_sni.c - [tls] certificate_directory: read each NAME/fullchain.pem and
 * NAME/privkey.pem (certbot's live/ layout) in the master, as root; take
 * the names a certificate serves from its DNS subjectAltNames (its CN when
 * it has none), never from the folder's name; build one GnuTLS credentials
 * set per distinct set of names and a sorted table name -> credentials.
 * The worker looks the client's SNI up there (exact name, then *.PARENT).
 */
#include "autoconf.h"
#include "tls_sni.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <gnutls/x509.h>

#define SNI_DIRS_MAX 10000

int
tls_sni_normalize(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_SNI_NAME_MAX || len >= outlen)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '.') {
			if (label == 0 || in[i - 1] == '-')
				return -1;
			label = 0;
		} else if (isalnum(c) || (c == '-' && label > 0) || c == '_') {
			if (++label > 63)
				return -1;
		} else
			return -1;
		out[i] = (char)tolower(c);
	}
	if (label == 0 || in[len - 1] == '-')
		return -1;      /* "a..": an empty last label once one dot went */
	out[len] = '\0';
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	const struct tls_sni_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : x->cred - y->cred;  /* the first directory wins */
}

static int
find(const struct tls_sni *t, const char *name)
{
	int lo = 0, hi = t->nnames - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(name, t->names[mid].name);
		if (c == 0)
			return t->names[mid].cred;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

gnutls_certificate_credentials_t
tls_sni_lookup(const struct tls_sni *t, const char *name)
{
	const char *dot;
	char wild[TLS_SNI_NAME_MAX + 2];
	int i;

	if (t == NULL || t->nnames == 0)
		return NULL;
	if ((i = find(t, name)) >= 0)
		return t->creds[i];
	if ((dot = strchr(name, '.')) == NULL || dot[1] == '\0')
		return NULL;
	snprintf(wild, sizeof(wild), "*%s", dot);
	if ((i = find(t, wild)) >= 0)
		return t->creds[i];
	return NULL;
}

/* A certificate name as a table key: a DNS name, or "*." and one. */
static int
cert_name(const char *in, size_t len, char *out, size_t outlen)
{
	if (len > 2 && in[0] == '*' && in[1] == '.') {
		if (outlen < 3 || tls_sni_normalize(in + 2, len - 2, out + 2, outlen - 2) < 0)
			return -1;
		out[0] = '*';
		out[1] = '.';
		return 0;
	}
	return tls_sni_normalize(in, len, out, outlen);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* D->names: the sorted DNS subjectAltNames of the leaf, else its CN. */
static int
leaf_names(struct tls_sni_dir *d, char *err, size_t errlen)
{
	gnutls_x509_crt_t crt;
	char buf[TLS_SNI_NAME_MAX + 2], got[64][TLS_SNI_NAME_MAX + 2], *sorted[64];
	size_t len;
	unsigned seq;
	int n = 0, i, rc;

	if (gnutls_x509_crt_init(&crt) < 0 ||
	    (rc = gnutls_x509_crt_import(crt, &d->chain, GNUTLS_X509_FMT_PEM)) < 0) {
		snprintf(err, errlen, "%s/fullchain.pem: no certificate in it", d->dir);
		gnutls_x509_crt_deinit(crt);
		return -1;
	}
	for (seq = 0; n < 64; seq++) {
		len = sizeof(buf) - 1;
		rc = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &len, NULL);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc == GNUTLS_SAN_DNSNAME && cert_name(buf, len, got[n], sizeof(got[n])) == 0)
			n++;
	}
	len = sizeof(buf) - 1;
	if (n == 0 && gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
	    buf, &len) == 0 && cert_name(buf, len, got[0], sizeof(got[0])) == 0)
		n = 1;
	if (n > 0 && gnutls_x509_crt_get_expiration_time(crt) < time(NULL))
		log_warn("[tls] certificate_directory: %s: the certificate has expired (renew it)", d->dir);
	gnutls_x509_crt_deinit(crt);
	if (n == 0) {
		snprintf(err, errlen, "%s/fullchain.pem: the certificate has no DNS name (no subjectAltName, no CN)",
		    d->dir);
		return -1;
	}
	for (i = 0; i < n; i++)
		sorted[i] = got[i];
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_str);
	d->names[0] = '\0';
	for (i = 0; i < n; i++)
		if ((i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0) &&
		    (strlcat(d->names, " ", sizeof(d->names)) >= sizeof(d->names) ||
		    strlcat(d->names, sorted[i], sizeof(d->names)) >= sizeof(d->names))) {
			snprintf(err, errlen, "%s/fullchain.pem: too many names (at most 1 KiB of them)", d->dir);
			return -1;
		}
	return 0;
}

static void
dir_free(struct tls_sni_dir *d)
{
	if (d->key.data != NULL) {
		gnutls_memset(d->key.data, 0, d->key.size);
		gnutls_free(d->key.data);
	}
	gnutls_free(d->chain.data);
	memset(d, 0, sizeof(*d));
}

/* Read BASE/NAME into D and check that the key matches the chain. */
static int
dir_read(const char *base, const char *name, struct tls_sni_dir *d, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t probe;
	char path[2048];
	int rc;

	memset(d, 0, sizeof(*d));
	strlcpy(d->dir, name, sizeof(d->dir));
	snprintf(path, sizeof(path), "%s/%s/fullchain.pem", base, name);
	errno = 0;
	if ((rc = gnutls_load_file(path, &d->chain)) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, errno ? strerror(errno) : gnutls_strerror(rc));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s/privkey.pem", base, name);
	errno = 0;
	if ((rc = gnutls_load_file(path, &d->key)) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, errno ? strerror(errno) : gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_certificate_allocate_credentials(&probe)) < 0) {
		snprintf(err, errlen, "%s: %s", name, gnutls_strerror(rc));
		goto fail;
	}
	rc = gnutls_certificate_set_x509_key_mem2(probe, &d->chain, &d->key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(probe);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", name, rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ?
		    "privkey.pem does not match fullchain.pem" : gnutls_strerror(rc));
		goto fail;
	}
	if (leaf_names(d, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	dir_free(d);
	return -1;
}

static int
dir_copy(struct tls_sni_dir *to, const struct tls_sni_dir *from)
{
	*to = *from;
	to->chain.data = gnutls_malloc(from->chain.size);
	to->key.data = gnutls_malloc(from->key.size);
	if (to->chain.data == NULL || to->key.data == NULL) {
		gnutls_free(to->chain.data);
		gnutls_free(to->key.data);
		memset(to, 0, sizeof(*to));
		return -1;
	}
	memcpy(to->chain.data, from->chain.data, from->chain.size);
	memcpy(to->key.data, from->key.data, from->key.size);
	return 0;
}

static const struct tls_sni_dir *
old_dir(const struct tls_sni *old, const char *name)
{
	int i;

	for (i = 0; old != NULL && i < old->ndirs; i++)
		if (strcmp(old->dirs[i].dir, name) == 0)
			return &old->dirs[i];
	return NULL;
}

/* Add the names of directory D (served by credentials C) to the table. */
static int
add_names(struct tls_sni *t, const struct tls_sni_dir *d, int c)
{
	char copy[sizeof(d->names)], *p = copy, *name;
	void *grown;

	strlcpy(copy, d->names, sizeof(copy));
	while ((name = strsep(&p, " ")) != NULL) {
		if (*name == '\0')
			continue;
		if ((grown = reallocarray(t->names, (size_t)t->nnames + 1, sizeof(*t->names))) == NULL)
			return -1;
		t->names = grown;
		strlcpy(t->names[t->nnames].name, name, sizeof(t->names[0].name));
		t->names[t->nnames++].cred = c;
	}
	return 0;
}

/* One credentials set per distinct name set; then the sorted name table. */
static int
build(struct tls_sni *t, char *err, size_t errlen)
{
	int i, j, c, rc, *cred_of;

	if ((cred_of = calloc((size_t)t->ndirs + 1, sizeof(*cred_of))) == NULL ||
	    (t->creds = calloc((size_t)t->ndirs + 1, sizeof(*t->creds))) == NULL)
		goto nomem;
	for (i = 0; i < t->ndirs; i++) {
		for (j = 0; j < i && strcmp(t->dirs[j].names, t->dirs[i].names) != 0; j++)
			;
		if (j < i)
			c = cred_of[j];         /* e.g. the ECDSA twin of an RSA one */
		else {
			c = t->ncreds;
			if ((rc = gnutls_certificate_allocate_credentials(&t->creds[c])) < 0) {
				snprintf(err, errlen, "[tls] certificate_directory: %s", gnutls_strerror(rc));
				goto fail;
			}
			t->ncreds++;
			if (add_names(t, &t->dirs[i], c) < 0)
				goto nomem;
		}
		cred_of[i] = c;
		rc = gnutls_certificate_set_x509_key_mem2(t->creds[c], &t->dirs[i].chain, &t->dirs[i].key,
		    GNUTLS_X509_FMT_PEM, NULL, 0);
		if (rc < 0) {
			snprintf(err, errlen, "[tls] certificate_directory: %s: %s", t->dirs[i].dir,
			    gnutls_strerror(rc));
			goto fail;
		}
	}
	free(cred_of);
	/* a name in two name sets: the first directory (in name order) wins */
	if (t->nnames > 1)
		qsort(t->names, (size_t)t->nnames, sizeof(*t->names), cmp_name);
	for (i = 1, j = 1; i < t->nnames; i++) {
		if (strcmp(t->names[i].name, t->names[j - 1].name) == 0)
			continue;
		t->names[j++] = t->names[i];
	}
	if (t->nnames > 0)
		t->nnames = j;
	return 0;
nomem:
	snprintf(err, errlen, "[tls] certificate_directory: out of memory");
fail:
	free(cred_of);
	return -1;
}

/* NAME in BASE: read it, else keep the old copy (reload) or fail. */
static int
take_dir(const char *base, const char *name, const struct tls_sni *old,
    struct tls_sni *t, char *err, size_t errlen)
{
	struct tls_sni_dir *d = &t->dirs[t->ndirs];
	const struct tls_sni_dir *was;
	char path[2048], why[3072];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/fullchain.pem", base, name);
	if (stat(path, &st) < 0)
		return 0;       /* not a certificate folder (certbot's README) */
	if (dir_read(base, name, d, why, sizeof(why)) == 0) {
		t->ndirs++;
		return 0;
	}
	if (old == NULL) {
		snprintf(err, errlen, "[tls] certificate_directory: %s (fix or remove %s/%s)", why, base, name);
		return -1;
	}
	if ((was = old_dir(old, name)) != NULL && dir_copy(d, was) == 0) {
		log_err("[tls] certificate_directory: %s: keeping the certificate loaded before", why);
		t->ndirs++;
	} else
		log_err("[tls] certificate_directory: %s: %s is not served", why, name);
	return 0;
}

int
tls_sni_load(const char *base, const struct tls_sni *old, struct tls_sni *t,
    char *err, size_t errlen)
{
	struct dirent **list = NULL;
	int i, n;

	memset(t, 0, sizeof(*t));
	if (base == NULL || base[0] == '\0')
		return 0;
	if ((n = scandir(base, &list, NULL, alphasort)) < 0) {
		snprintf(err, errlen, "[tls] certificate_directory: cannot read %s: %s", base, strerror(errno));
		return -1;
	}
	if ((t->dirs = calloc((size_t)n + 1, sizeof(*t->dirs))) == NULL) {
		snprintf(err, errlen, "[tls] certificate_directory: out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (list[i]->d_name[0] == '.')
			continue;
		if (t->ndirs == SNI_DIRS_MAX) {
			snprintf(err, errlen, "[tls] certificate_directory: more than %d certificates in %s",
			    SNI_DIRS_MAX, base);
			goto fail;
		}
		if (take_dir(base, list[i]->d_name, old, t, err, errlen) < 0)
			goto fail;
	}
	if (build(t, err, errlen) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	tls_sni_free(t);
	return -1;
}

void
tls_sni_free(struct tls_sni *t)
{
	int i;

	for (i = 0; i < t->ndirs; i++)
		dir_free(&t->dirs[i]);
	for (i = 0; i < t->ncreds; i++)
		if (t->creds[i] != NULL)
			gnutls_certificate_free_credentials(t->creds[i]);
	free(t->dirs);
	free(t->creds);
	free(t->names);
	memset(t, 0, sizeof(*t));
}
