/* SPDX-License-Identifier: ISC */
/*
 * tls_sni.h - the certificates of [tls] certificate_directory (certbot
 * layout: NAME/fullchain.pem and NAME/privkey.pem), read by the master as
 * root, and the table that maps a client's server name (SNI) to them.
 */
#ifndef POSTERN_TLS_SNI_H
#define POSTERN_TLS_SNI_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#define TLS_SNI_NAME_MAX 253    /* a DNS name in text form */

/* One NAME/ directory as read: the PEM bytes, kept so that a reload that
 * finds a broken copy of NAME can keep serving this one. */
struct tls_sni_dir {
	char dir[256];                  /* NAME */
	gnutls_datum_t chain, key;      /* fullchain.pem, privkey.pem */
	char names[1024];               /* its names, sorted, space-separated */
};

struct tls_sni_name {
	char name[TLS_SNI_NAME_MAX + 1];        /* lower case; "*.example.com" */
	int cred;                       /* index into creds */
};

struct tls_sni {
	struct tls_sni_dir *dirs;
	int ndirs;
	/* one credentials set per distinct set of names: an RSA and an ECDSA
	 * certificate for the same names share one, and GnuTLS picks the one
	 * the client can use */
	gnutls_certificate_credentials_t *creds;
	int ncreds;
	struct tls_sni_name *names;     /* sorted by name */
	int nnames;
};

/*
 * Read every NAME/ under DIR.  A NAME that cannot be used is an error when
 * OLD is NULL (start-up, posternd -t); on a reload (OLD set) the copy of
 * NAME in OLD is kept, or NAME is left out, and the reason is logged.
 * Returns 0, or -1 with a message in ERR.
 */
int tls_sni_load(const char *dir, const struct tls_sni *old, struct tls_sni *out,
    char *err, size_t errlen);
void tls_sni_free(struct tls_sni *);

/*
 * The client's server name as it may be used: LDH labels separated by
 * dots, at most 253 octets, lower-cased into OUT (a trailing dot dropped).
 * Returns 0, or -1 if IN is no such name.
 */
int tls_sni_normalize(const char *in, size_t len, char *out, size_t outlen);

/* The credentials for NAME (normalized): the exact name, else "*.PARENT";
 * NULL when neither is there (the caller uses [tls] certificate). */
gnutls_certificate_credentials_t tls_sni_lookup(const struct tls_sni *, const char *name);

#endif
