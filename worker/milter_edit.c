/* SPDX-License-Identifier: ISC */
/*
 * milter_edit.c - milter end-of-message edits (see milter_edit.h): the
 * header splitter, the edit list, and the pure function that applies the
 * list to a message and its envelope, with Sendmail's index semantics.
 */
#include "autoconf.h"
#include "milter_edit.h"
#include "milter_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HDR_LINE_MAX 998

void
milter_edits_free(struct milter_edits *ed)
{
	size_t i;

	for (i = 0; i < ed->n; i++) {
		free(ed->v[i].name);
		free(ed->v[i].value);
	}
	free(ed->v);
	memset(ed, 0, sizeof(*ed));
}

/* "Name: value" + CR LF from a milter's name and value: line breaks (LF,
 * CR LF, CR) become CR LF, a continuation line without leading blank gets a
 * tab.  NULL (with WHY) if the result is not one valid header field. */
static char *
header_line(const char *name, const char *value, int leadspc, char *why, size_t whylen)
{
	size_t nl = strlen(name), vl = strlen(value), i, col;
	char *out, *o;
	size_t c;

	for (i = 0; i < nl; i++)
		if ((unsigned char)name[i] <= 32 || (unsigned char)name[i] >= 127 || name[i] == ':') {
			snprintf(why, whylen, "header name '%.64s' is not printable ASCII without colon", name);
			return NULL;
		}
	/* Worst case: each character a line break that needs CR LF TAB. */
	if ((out = malloc(nl + 2 + vl * 3 + 3)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	o = out + snprintf(out, nl + 3, "%s:%s", name, leadspc ? "" : " ");
	col = (size_t)(o - out);
	while (vl > 0 && (value[vl - 1] == '\n' || value[vl - 1] == '\r'))
		vl--;
	for (i = 0; i < vl; i++) {
		c = (unsigned char)value[i];
		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < vl && value[i + 1] == '\n')
				i++;
			*o++ = '\r';
			*o++ = '\n';
			if (i + 1 < vl && value[i + 1] != ' ' && value[i + 1] != '\t')
				*o++ = '\t';
			col = 1;
			continue;
		}
		if ((c < 32 && c != '\t') || c == 127) {
			snprintf(why, whylen, "header %s: value has control character 0x%02zx", name, c);
			free(out);
			return NULL;
		}
		*o++ = (char)c;
		if (++col > HDR_LINE_MAX) {
			snprintf(why, whylen, "header %s: a line over %d octets", name, HDR_LINE_MAX);
			free(out);
			return NULL;
		}
	}
	*o++ = '\r';
	*o++ = '\n';
	*o = '\0';
	return out;
}

static int
push(struct milter_edits *ed, enum milter_edit_kind kind, uint32_t index,
    char *name, char *value, size_t len)
{
	if (ed->n == ed->cap) {
		size_t cap = ed->cap ? ed->cap * 2 : 16;
		struct milter_edit *nv = realloc(ed->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		ed->v = nv;
		ed->cap = cap;
	}
	ed->v[ed->n++] = (struct milter_edit){ kind, index, name, value, len };
	return 0;
}

/* A copy of address A without one pair of angle brackets. */
static char *
bare_addr(const char *a)
{
	size_t n = strlen(a);
	char *s;

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if ((s = malloc(n + 1)) != NULL) {
		memcpy(s, a, n);
		s[n] = '\0';
	}
	return s;
}

static int
addr_ok(const char *a, char *why, size_t whylen)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 32 || (unsigned char)*a == 127) {
			snprintf(why, whylen, "address with a control character");
			return 0;
		}
	return 1;
}

int
milter_edits_add(struct milter_edits *ed, const struct milter_reply *r,
    int leadspc, char *why, size_t whylen)
{
	char *a = NULL, *b = NULL;
	enum milter_edit_kind kind;
	size_t len = 0;

	switch (r->cmd) {
	case SMFIR_QUARANTINE:
		snprintf(ed->quarantine, sizeof(ed->quarantine), "%s", r->s1[0] ? r->s1 : "quarantined");
		return 0;
	case SMFIR_ADDHEADER: kind = MILTER_ADDHEADER; break;
	case SMFIR_INSHEADER: kind = MILTER_INSHEADER; break;
	case SMFIR_CHGHEADER: kind = MILTER_CHGHEADER; break;
	case SMFIR_ADDRCPT: case SMFIR_ADDRCPT_PAR: kind = MILTER_ADDRCPT; break;
	case SMFIR_DELRCPT: kind = MILTER_DELRCPT; break;
	case SMFIR_CHGFROM: kind = MILTER_CHGFROM; break;
	case SMFIR_REPLBODY: kind = MILTER_REPLBODY; break;
	default:
		snprintf(why, whylen, "not an edit");
		return -1;
	}
	if (kind == MILTER_REPLBODY) {
		if ((b = malloc(r->bodylen + 1)) == NULL)
			goto nomem;
		memcpy(b, r->body, r->bodylen);
		len = r->bodylen;
	} else if (kind <= MILTER_CHGHEADER) {
		if ((a = strdup(r->s1)) == NULL)
			goto nomem;
		if (kind == MILTER_CHGHEADER && r->s2[0] == '\0')
			b = NULL;       /* delete */
		else if ((b = header_line(r->s1, r->s2, leadspc, why, whylen)) == NULL) {
			free(a);
			return -1;
		}
	} else {
		if (!addr_ok(r->s1, why, whylen) || (r->s2 && !addr_ok(r->s2, why, whylen)))
			return -1;
		if ((a = bare_addr(r->s1)) == NULL ||
		    (b = strdup(r->s2 ? r->s2 : "")) == NULL)
			goto nomem;
	}
	if (push(ed, kind, r->index, a, b, len) == 0)
		return 0;
nomem:
	free(a);
	free(b);
	snprintf(why, whylen, "out of memory");
	return -1;
}

int
milter_envelope_set_sender(struct milter_envelope *env, const char *addr,
    const char *args)
{
	char *a = strdup(addr), *b = strdup(args ? args : "");

	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return -1;
	}
	free(env->sender);
	free(env->sender_args);
	env->sender = a;
	env->sender_args = b;
	return 0;
}

int
milter_envelope_add_rcpt(struct milter_envelope *env, const char *addr,
    const char *args)
{
	char *a, *b;

	if (env->nrcpts == env->cap) {
		size_t cap = env->cap ? env->cap * 2 : 8;
		struct milter_rcpt *nv = realloc(env->rcpts, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		env->rcpts = nv;
		env->cap = cap;
	}
	a = strdup(addr);
	b = strdup(args ? args : "");
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return -1;
	}
	env->rcpts[env->nrcpts++] = (struct milter_rcpt){ a, b };
	return 0;
}

void
milter_envelope_free(struct milter_envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].args);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->sender_args);
	memset(env, 0, sizeof(*env));
}

static void
del_rcpt(struct milter_envelope *env, const char *addr)
{
	size_t i = 0;

	while (i < env->nrcpts) {
		if (strcasecmp(env->rcpts[i].addr, addr) == 0) {
			free(env->rcpts[i].addr);
			free(env->rcpts[i].args);
			memmove(env->rcpts + i, env->rcpts + i + 1,
			    (env->nrcpts - i - 1) * sizeof(*env->rcpts));
			env->nrcpts--;
		} else {
			i++;
		}
	}
}

/* The header fields while edits apply: slices of the message or of edits. */
struct hline {
	const char *p;
	size_t len, namelen;
};
struct hlist {
	struct hline *v;
	size_t n, cap;
};

static int
hl_insert(struct hlist *h, size_t at, const char *p, size_t namelen)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct hline *nv = realloc(h->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		h->v = nv;
		h->cap = cap;
	}
	if (at > h->n)
		at = h->n;
	memmove(h->v + at + 1, h->v + at, (h->n - at) * sizeof(*h->v));
	h->v[at] = (struct hline){ p, strlen(p), namelen };
	h->n++;
	return 0;
}

/* CHGHEADER: the INDEXth field named NAME (0 counts as 1). */
static int
hl_change(struct hlist *h, const struct milter_edit *e)
{
	size_t i, nl = strlen(e->name);
	uint32_t want = e->index ? e->index : 1, seen = 0;

	for (i = 0; i < h->n; i++) {
		if (h->v[i].namelen != nl || strncasecmp(h->v[i].p, e->name, nl) != 0 ||
		    ++seen != want)
			continue;
		if (e->value == NULL) {
			memmove(h->v + i, h->v + i + 1, (h->n - i - 1) * sizeof(*h->v));
			h->n--;
		} else {
			h->v[i] = (struct hline){ e->value, strlen(e->value), nl };
		}
		return 0;
	}
	return e->value ? hl_insert(h, h->n, e->value, nl) : 0;
}

static int
apply_one(const struct milter_edit *e, struct hlist *h, struct milter_envelope *env)
{
	switch (e->kind) {
	case MILTER_ADDHEADER:
		return hl_insert(h, h->n, e->value, strlen(e->name));
	case MILTER_INSHEADER:
		return hl_insert(h, e->index, e->value, strlen(e->name));
	case MILTER_CHGHEADER:
		return hl_change(h, e);
	case MILTER_ADDRCPT:
		return milter_envelope_add_rcpt(env, e->name, e->value);
	case MILTER_DELRCPT:
		del_rcpt(env, e->name);
		return 0;
	case MILTER_CHGFROM:
		return milter_envelope_set_sender(env, e->name, e->value);
	case MILTER_REPLBODY:
		return 0;
	}
	return 0;
}

/* Append N bytes at P to *OUT, turning lone LF into CR LF when CRLF. */
static void
emit(char *out, size_t *o, const char *p, size_t n, int crlf)
{
	size_t i;

	if (!crlf) {
		memcpy(out + *o, p, n);
		*o += n;
		return;
	}
	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			out[(*o)++] = '\r';
		out[(*o)++] = p[i];
	}
}

/* The REPLBODY chunks, in order, as one buffer (NULL, *N = 0 if none). */
static char *
new_body(const struct milter_edits *ed, size_t *n, int *replaced)
{
	size_t i, len = 0;
	char *b;

	*replaced = 0;
	for (i = 0; i < ed->n; i++)
		if (ed->v[i].kind == MILTER_REPLBODY) {
			len += ed->v[i].len;
			*replaced = 1;
		}
	*n = len;
	if (!*replaced || (b = malloc(len + 1)) == NULL)
		return NULL;
	for (len = 0, i = 0; i < ed->n; i++)
		if (ed->v[i].kind == MILTER_REPLBODY) {
			memcpy(b + len, ed->v[i].value, ed->v[i].len);
			len += ed->v[i].len;
		}
	return b;
}

int
milter_edits_apply(const struct milter_edits *ed, const char *msg, size_t len,
    struct milter_envelope *env, char **out, size_t *outlen)
{
	struct milter_hdr *hdrs = NULL;
	struct hlist h = { NULL, 0, 0 };
	size_t i, body, nb = 0, size, o = 0;
	int sep, replaced, rc = -1;
	long nh = milter_headers(msg, len, &hdrs, &body, &sep);
	char *nbody = NULL, *res = NULL;

	if (nh < 0)
		return -1;
	for (i = 0; i < (size_t)nh; i++) {
		if (hl_insert(&h, h.n, "", hdrs[i].namelen) < 0)
			goto done;
		h.v[h.n - 1].p = msg + hdrs[i].start;
		h.v[h.n - 1].len = hdrs[i].end - hdrs[i].start;
	}
	for (i = 0; i < ed->n; i++)
		if (apply_one(&ed->v[i], &h, env) < 0)
			goto done;
	nbody = new_body(ed, &nb, &replaced);
	if (replaced && nbody == NULL && nb > 0)
		goto done;
	size = 2 + (replaced ? nb * 2 + 2 : len - body);
	for (i = 0; i < h.n; i++)
		size += h.v[i].len + 2;
	if ((res = malloc(size + 1)) == NULL)
		goto done;
	for (i = 0; i < h.n; i++) {
		emit(res, &o, h.v[i].p, h.v[i].len, 0);
		if (h.v[i].len < 2 || h.v[i].p[h.v[i].len - 1] != '\n')
			emit(res, &o, "\r\n", 2, 0);    /* a last header without line end */
	}
	if (replaced) {
		emit(res, &o, "\r\n", 2, 0);
		emit(res, &o, nbody, nb, 1);
		if (nb > 0 && nbody[nb - 1] != '\n')
			emit(res, &o, "\r\n", 2, 0);
	} else {
		if (sep)
			emit(res, &o, "\r\n", 2, 0);
		emit(res, &o, msg + body, len - body, 0);
	}
	*out = res;
	*outlen = o;
	rc = 0;
done:
	free(hdrs);
	free(h.v);
	free(nbody);
	return rc;
}
