/* SPDX-License-Identifier: ISC */
/*
 * milter_macro.c - the macros a milter is sent: Postfix's default list per
 * stage (its milter_*_macros), the lookup of a Sendmail macro name in the
 * caller's struct milter_macros, and the MACRO packet for one stage.
 */
#include "autoconf.h"
#include "milter.h"

#include <stddef.h>
#include <string.h>

static const char *const defaults[MILTER_STAGES] = {
	[MILTER_STAGE_CONNECT] = "j {daemon_name} {daemon_addr} v _",
	[MILTER_STAGE_HELO] = "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
	[MILTER_STAGE_MAIL] = "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
	[MILTER_STAGE_RCPT] = "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
	[MILTER_STAGE_DATA] = "i",
	[MILTER_STAGE_EOM] = "i",
	[MILTER_STAGE_EOH] = "i",
};

const char *
milter_default_macros(enum milter_stage st)
{
	return st < MILTER_STAGES ? defaults[st] : "";
}

#define M(n) { #n, offsetof(struct milter_macros, n) }
static const struct {
	const char *name;
	size_t off;
} table[] = {
	M(j), { "_", offsetof(struct milter_macros, underscore) }, M(v), M(i),
	M(daemon_name), M(daemon_addr),
	M(client_addr), M(client_port), M(client_name), M(client_ptr),
	M(client_connections),
	M(auth_type), M(auth_authen), M(auth_author),
	M(tls_version), M(cipher), M(cipher_bits), M(cert_subject), M(cert_issuer),
	M(mail_mailer), M(mail_host), M(mail_addr),
	M(rcpt_mailer), M(rcpt_host), M(rcpt_addr),
};

/* The index in table[] of macro NAME ("j", "{daemon_name}",
 * "daemon_name"), or -1. */
static int
macro_index(const char *name)
{
	size_t n = strlen(name), i;

	if (n >= 2 && name[0] == '{' && name[n - 1] == '}') {
		name++;
		n -= 2;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strlen(table[i].name) == n && strncmp(table[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

const char **
milter_macro_slot(struct milter_macros *mm, const char *name)
{
	int i = macro_index(name);

	return i < 0 ? NULL : (const char **)((char *)mm + table[i].off);
}

const char *
milter_macro_value(const struct milter_macros *mm, const char *name)
{
	const char **slot = milter_macro_slot((struct milter_macros *)mm, name);
	return slot ? *slot : NULL;
}

void
milter_macros_prepare(struct milter *m)
{
	int st, i;

	for (st = 0; st < MILTER_STAGES; st++) {
		struct milter_maclist *ml = &m->macs[st];
		char *list = m->neg.list[st], *w, *save = NULL;

		/* the names are kept, NUL-separated, in neg.list[st] */
		if (!m->neg.has_list[st])
			strlcpy(list, defaults[st], sizeof(m->neg.list[st]));
		ml->n = 0;
		for (w = strtok_r(list, " \t,", &save); w != NULL && ml->n < MILTER_MACROS_MAX;
		    w = strtok_r(NULL, " \t,", &save))
			if ((i = macro_index(w)) >= 0) {        /* unknown: never a value */
				ml->name[ml->n] = (unsigned short)(w - list);
				ml->slot[ml->n++] = (unsigned char)i;
			}
	}
}

static int
stage_of(char cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return MILTER_STAGE_CONNECT;
	case SMFIC_HELO:    return MILTER_STAGE_HELO;
	case SMFIC_MAIL:    return MILTER_STAGE_MAIL;
	case SMFIC_RCPT:    return MILTER_STAGE_RCPT;
	case SMFIC_DATA:    return MILTER_STAGE_DATA;
	case SMFIC_BODYEOB: return MILTER_STAGE_EOM;
	case SMFIC_EOH:     return MILTER_STAGE_EOH;
	}
	return -1;
}

/* Append the MACRO packet for command CMD's stage to M's output (nothing
 * if the stage has no list or none of its macros has a value). */
int
milter_put_macros(struct milter *m, char cmd, const struct milter_macros *mm)
{
	const char *names[MILTER_MACROS_MAX], *values[MILTER_MACROS_MAX];
	const struct milter_maclist *ml;
	size_t n = 0, i;
	int st = stage_of(cmd);

	if (st < 0 || mm == NULL)
		return 0;
	ml = &m->macs[st];
	for (i = 0; i < ml->n; i++) {
		const char *v = *(const char *const *)((const char *)mm + table[ml->slot[i]].off);
		if (v != NULL && v[0] != '\0') {
			names[n] = m->neg.list[st] + ml->name[i];
			values[n++] = v;
		}
	}
	if (n == 0)
		return 0;
	return milter_enc_macro(&m->out, cmd, names, values, n);
}
