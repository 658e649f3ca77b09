/* SPDX-License-Identifier: ISC */
/*
 * milter_text.c - the message and the envelope as a milter sees and edits
 * them: the spooled message as CR LF bytes for the milter, and the
 * end-of-message edits applied (milter_edit.c does the editing): the
 * edited message written into a new spool file for the next step, in one
 * write, and the edited sender and recipients put back into the session.
 */
#include "autoconf.h"
#include "milter_text.h"
#include "milter_edit.h"
#include "message.h"
#include "session.h"
#include "spool.h"
#include "../common/log.h"
#include "../common/writeall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

char *
milter_text_read(const struct message *m, size_t *len)
{
	size_t n = (size_t)m->len, i, o = 0;
	char *raw = malloc(n + 1), *out;
	ssize_t r;

	if (raw == NULL)
		return NULL;
	for (i = 0; i < n; i += (size_t)r)
		if ((r = message_read(m, raw + i, n - i, (long long)i)) <= 0) {
			free(raw);
			return NULL;
		}
	if (m->crlf) {
		*len = n;
		return raw;
	}
	/* a line at a time (memchr), not a byte at a time */
	if ((out = malloc(n * 2 + 1)) != NULL)
		for (i = 0; i < n; ) {
			const char *nl = memchr(raw + i, '\n', n - i);
			size_t run = nl ? (size_t)(nl - (raw + i)) : n - i;

			memcpy(out + o, raw + i, run);
			o += run;
			i += run;
			if (nl == NULL)
				break;
			if (i == 0 || raw[i - 1] != '\r')
				out[o++] = '\r';
			out[o++] = '\n';
			i++;
		}
	free(raw);
	*len = o;
	return out;
}

/* The edited message P (LEN octets, ours to change) into a new file for
 * the next step in one write: CR LF made LF first, in place, if the spool
 * keeps LF (a write per line cost 30 syscalls for a 1 KiB message). */
static int
write_message(struct message *m, char *p, size_t len)
{
	size_t i, o;
	int fd;

	if (!m->crlf) {
		/* a CR at a time (memchr), not a byte at a time */
		for (i = o = 0; i < len; ) {
			const char *cr = memchr(p + i, '\r', len - i);
			size_t run = cr ? (size_t)(cr - (p + i)) : len - i;

			memmove(p + o, p + i, run);
			o += run;
			i += run;
			if (cr == NULL)
				break;
			if (!(i + 1 < len && p[i + 1] == '\n'))
				p[o++] = '\r';         /* a lone CR stays */
			i++;
		}
		len = o;
	}
	if ((fd = spool_tmpfile(m->dir)) < 0)
		return -1;
	if (write_all(fd, p, len, NULL) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	message_replace(m, fd, (long long)len);
	return 0;
}

/* The session's envelope as the edits see it, and back. */
static int
envelope_get(struct session *s, struct milter_envelope *env)
{
	const char *p = s->rcpts ? s->rcpts : "", *d = s->rcpts_dsn ? s->rcpts_dsn : "";

	memset(env, 0, sizeof(*env));
	if (milter_envelope_set_sender(env, s->mail_from, "") < 0)
		return -1;
	while (*p) {
		size_t l = strcspn(p, "\n"), dl = strcspn(d, "\n");
		char addr[SMTP_PATH_MAX + 1], dsn[600];
		snprintf(addr, sizeof(addr), "%.*s", (int)l, p);
		snprintf(dsn, sizeof(dsn), "%.*s", (int)dl, d);
		if (milter_envelope_add_rcpt(env, addr, dsn) < 0)
			return -1;
		p += l + (p[l] == '\n');
		d += dl + (d[dl] == '\n');
	}
	return 0;
}

/* "NOTIFY=x ORCPT=y" from a milter's ESMTP arguments. */
static void
dsn_of(const char *args, char *out, size_t outlen)
{
	char notify[64] = "", orcpt[520] = "";
	const char *p = args;

	while (*p) {
		size_t l = strcspn(p, " ");
		if (strncasecmp(p, "NOTIFY=", 7) == 0)
			snprintf(notify, sizeof(notify), "%.*s", (int)l - 7, p + 7);
		else if (strncasecmp(p, "ORCPT=", 6) == 0)
			snprintf(orcpt, sizeof(orcpt), "%.*s", (int)l - 6, p + 6);
		p += l + (p[l] == ' ');
	}
	snprintf(out, outlen, "NOTIFY=%s ORCPT=%s", notify, orcpt);
}

static int
envelope_put(struct session *s, const struct milter_envelope *env)
{
	size_t i, n = 0, dn = 0, cap = 1, dcap = 1;
	char *r, *d;

	for (i = 0; i < env->nrcpts; i++) {
		cap += strlen(env->rcpts[i].addr) + 1;
		dcap += strlen(env->rcpts[i].args) + 600;
	}
	if ((r = malloc(cap)) == NULL || (d = malloc(dcap)) == NULL) {
		free(r);
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++) {
		char dsn[600];
		dsn_of(env->rcpts[i].args, dsn, sizeof(dsn));
		n += (size_t)snprintf(r + n, cap - n, "%s\n", env->rcpts[i].addr);
		dn += (size_t)snprintf(d + dn, dcap - dn, "%s\n", dsn);
	}
	r[n] = d[dn] = '\0';
	free(s->rcpts);
	free(s->rcpts_dsn);
	s->rcpts = r;
	s->rcpts_len = n;
	s->rcpts_cap = cap;
	s->rcpts_dsn = d;
	s->rcpts_dsn_len = dn;
	s->rcpts_dsn_cap = dcap;
	s->nrcpts = (int)env->nrcpts;
	strlcpy(s->mail_from, env->sender, sizeof(s->mail_from));
	return 0;
}

int
milter_text_apply(struct session *s, const char *name, const struct milter_edits *ed,
    struct message *m, const char *msg, size_t len)
{
	struct milter_envelope env;
	char *out = NULL;
	size_t outlen, i;
	int body = 0, rc = -1;

	if (ed->n == 0)
		return 0;
	for (i = 0; i < ed->n; i++)
		body |= ed->v[i].kind <= MILTER_CHGHEADER || ed->v[i].kind == MILTER_REPLBODY;
	if (envelope_get(s, &env) == 0 &&
	    milter_edits_apply(ed, msg, len, &env, &out, &outlen) == 0 &&
	    (!body || write_message(m, out, outlen) == 0) && envelope_put(s, &env) == 0)
		rc = 0;
	if (rc == 0)
		log_info("%s: milter %s: %zu edit%s applied", s->queue_id, name, ed->n, ed->n > 1 ? "s" : "");
	free(out);
	milter_envelope_free(&env);
	return rc;
}
