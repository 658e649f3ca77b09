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

const char **
milter_macro_slot(struct milter_macros *mm, const char *name)
{
	size_t n = strlen(name), i;

	if (n >= 2 && name[0] == '{' && name[n - 1] == '}') {
		name++;
		n -= 2;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strlen(table[i].name) == n && strncmp(table[i].name, name, n) == 0)
			return (const char **)((char *)mm + table[i].off);
	return NULL;
}

const char *
milter_macro_value(const struct milter_macros *mm, const char *name)
{
	const char **slot = milter_macro_slot((struct milter_macros *)mm, name);
	return slot ? *slot : NULL;
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
	const char *names[64], *values[64], *p;
	char words[MILTER_SYMLIST_MAX], *w, *save = NULL;
	size_t n = 0;
	int st = stage_of(cmd);

	if (st < 0 || mm == NULL || (p = m->lists[st]) == NULL)
		return 0;
	strlcpy(words, p, sizeof(words));
	for (w = strtok_r(words, " \t,", &save); w != NULL && n < 64;
	    w = strtok_r(NULL, " \t,", &save)) {
		names[n] = w;
		values[n] = milter_macro_value(mm, w);
		if (values[n] != NULL && values[n][0] != '\0')
			n++;
	}
	if (n == 0)
		return 0;
	return milter_enc_macro(&m->out, cmd, names, values, n);
}
