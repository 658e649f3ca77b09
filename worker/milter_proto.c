/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.c - the milter packet codec (see milter_proto.h): encoders
 * for MTA -> milter commands, a framer, and decoders for the replies that
 * check every length and every string terminator, so that nothing a milter
 * sends is trusted further than the packet it came in.
 */
#include "autoconf.h"
#include "milter_proto.h"

#include <stdlib.h>
#include <string.h>

const char *
milter_strerror(enum milter_err e)
{
	switch (e) {
	case MILTER_OK:         return "no error";
	case MILTER_E_SHORT:    return "incomplete packet";
	case MILTER_E_TOOBIG:   return "packet longer than 64 KiB";
	case MILTER_E_EMPTY:    return "packet without a command";
	case MILTER_E_UNKNOWN:  return "unknown reply command";
	case MILTER_E_FORMAT:   return "malformed reply data";
	case MILTER_E_REPLYCODE: return "reply text is not a valid 4xx/5xx SMTP reply";
	case MILTER_E_VERSION:  return "unsupported protocol version";
	}
	return "unknown error";
}

void
milter_buf_free(struct milter_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int
put(struct milter_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *np;
		while (cap - b->len < n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
put32(struct milter_buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
	return put(b, x, 4);
}

static int
putstr(struct milter_buf *b, const char *s)
{
	return put(b, s ? s : "", strlen(s ? s : "") + 1);
}

/* Start a packet; milter_end() fills in its length. */
static size_t
begin(struct milter_buf *b, char cmd, int *err)
{
	size_t at = b->len;
	*err = put32(b, 0) < 0 || put(b, &cmd, 1) < 0;
	return at;
}

static int
end(struct milter_buf *b, size_t at, int err)
{
	uint32_t n;

	if (err) {
		b->len = at;
		return -1;
	}
	n = (uint32_t)(b->len - at - 4);
	b->p[at] = n >> 24;
	b->p[at + 1] = (n >> 16) & 0xff;
	b->p[at + 2] = (n >> 8) & 0xff;
	b->p[at + 3] = n & 0xff;
	return 0;
}

int
milter_enc_optneg(struct milter_buf *b, uint32_t version, uint32_t actions,
    uint32_t pflags)
{
	int err;
	size_t at = begin(b, SMFIC_OPTNEG, &err);
	err = err || put32(b, version) || put32(b, actions) || put32(b, pflags);
	return end(b, at, err);
}

int
milter_enc_macro(struct milter_buf *b, char cmd, const char *const *names,
    const char *const *values, size_t n)
{
	int err;
	size_t i, at = begin(b, SMFIC_MACRO, &err);

	err = err || put(b, &cmd, 1);
	for (i = 0; i < n && !err; i++)
		if (values[i] != NULL && values[i][0] != '\0')
			err = putstr(b, names[i]) || putstr(b, values[i]);
	return end(b, at, err);
}

int
milter_enc_connect(struct milter_buf *b, const char *hostname, char family,
    unsigned port, const char *addr)
{
	int err;
	size_t at = begin(b, SMFIC_CONNECT, &err);

	err = err || putstr(b, hostname) || put(b, &family, 1);
	if (!err && family != SMFIA_UNKNOWN) {
		unsigned char p[2] = { (port >> 8) & 0xff, port & 0xff };
		err = put(b, p, 2) || putstr(b, addr);
	}
	return end(b, at, err);
}

/* A packet of one string: HELO, UNKNOWN. */
static int
enc_string(struct milter_buf *b, char cmd, const char *s)
{
	int err;
	size_t at = begin(b, cmd, &err);
	err = err || putstr(b, s);
	return end(b, at, err);
}

int
milter_enc_helo(struct milter_buf *b, const char *helo)
{
	return enc_string(b, SMFIC_HELO, helo);
}

int
milter_enc_envelope(struct milter_buf *b, char cmd, const char *addr,
    const char *const *args, size_t nargs)
{
	int err;
	size_t i, at = begin(b, cmd, &err);

	err = err || putstr(b, addr);
	for (i = 0; i < nargs && !err; i++)
		err = putstr(b, args[i]);
	return end(b, at, err);
}

int
milter_enc_header(struct milter_buf *b, const char *name, const char *value)
{
	int err;
	size_t at = begin(b, SMFIC_HEADER, &err);
	err = err || putstr(b, name) || putstr(b, value);
	return end(b, at, err);
}

int
milter_enc_body(struct milter_buf *b, const unsigned char *p, size_t n)
{
	int err;
	size_t at;

	if (n > MILTER_CHUNK)
		return -1;
	at = begin(b, SMFIC_BODY, &err);
	err = err || put(b, p, n);
	return end(b, at, err);
}

int
milter_enc_unknown(struct milter_buf *b, const char *line)
{
	return enc_string(b, SMFIC_UNKNOWN, line);
}

int
milter_enc_empty(struct milter_buf *b, char cmd)
{
	int err;
	size_t at = begin(b, cmd, &err);
	return end(b, at, err);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum milter_err
milter_frame(const unsigned char *buf, size_t len, char *cmd,
    const unsigned char **data, size_t *datalen, size_t *used)
{
	uint32_t n;

	if (len < 4)
		return MILTER_E_SHORT;
	n = get32(buf);
	if (n > MILTER_MAX_PACKET)
		return MILTER_E_TOOBIG;
	if (n == 0)
		return MILTER_E_EMPTY;
	if (len - 4 < n)
		return MILTER_E_SHORT;
	*cmd = (char)buf[4];
	*data = buf + 5;
	*datalen = n - 1;
	*used = 4 + (size_t)n;
	return MILTER_OK;
}

/* The NUL-terminated string at DATA+*OFF; NULL if there is none. */
static const char *
getstr(const unsigned char *data, size_t len, size_t *off)
{
	const unsigned char *nul;
	const char *s;

	if (*off >= len || (nul = memchr(data + *off, '\0', len - *off)) == NULL)
		return NULL;
	s = (const char *)data + *off;
	*off = (size_t)(nul - data) + 1;
	return s;
}

/* Macro names: printable, no spaces inside one name. */
static int
symlist_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			return 0;
	return 1;
}

enum milter_err
milter_dec_optneg(const unsigned char *data, size_t len, struct milter_optneg *out)
{
	size_t off = 12;

	memset(out, 0, sizeof(*out));
	if (len < 12)
		return MILTER_E_FORMAT;
	out->version = get32(data);
	out->actions = get32(data + 4);
	out->pflags = get32(data + 8);
	if (out->version < MILTER_VERSION_MIN || out->version > MILTER_VERSION)
		return MILTER_E_VERSION;
	while (off < len) {
		uint32_t stage;
		const char *s;
		if (len - off < 4)
			return MILTER_E_FORMAT;
		stage = get32(data + off);
		off += 4;
		if ((s = getstr(data, len, &off)) == NULL || !symlist_ok(s) ||
		    strlen(s) >= MILTER_SYMLIST_MAX)
			return MILTER_E_FORMAT;
		if (stage < MILTER_STAGES) {    /* later stages unknown to us: ignored */
			out->has_list[stage] = 1;
			memcpy(out->list[stage], s, strlen(s) + 1);
		}
	}
	return MILTER_OK;
}

/* One line of a reply: CODE (same as the first line's), '-' or ' ' (or the
 * end), an optional enhanced code of the same class, printable text. */
static int
replyline_ok(const char *p, size_t n, int code, int last)
{
	size_t i = 3;

	if (n < 3 || p[0] != '0' + code / 100 || p[1] != '0' + code / 10 % 10 ||
	    p[2] != '0' + code % 10)
		return 0;
	if (n > 3 && p[3] != (last ? ' ' : '-'))
		return 0;
	if (n == 3 && !last)
		return 0;
	for (; i < n; i++)
		if (((unsigned char)p[i] < 32 && p[i] != '\t') || (unsigned char)p[i] == 127)
			return 0;
	if (n > 4 && p[4] >= '0' && p[4] <= '9') {      /* an enhanced code */
		size_t j = 4, dots = 0, digits = 0;
		if (p[4] != p[0] || n < 6 || p[5] != '.')
			return 0;
		for (j = 5; j < n && p[j] != ' '; j++) {
			if (p[j] == '.') {
				if (digits == 0 && j > 5)
					return 0;
				dots++;
				digits = 0;
			} else if (p[j] >= '0' && p[j] <= '9' && digits < 3) {
				digits++;
			} else {
				return 0;
			}
		}
		if (dots != 2 || digits == 0)
			return 0;
	}
	return 1;
}

int
milter_replycode_check(const char *text)
{
	int code;
	const char *p = text;

	if (strlen(text) < 3 || (text[0] != '4' && text[0] != '5') ||
	    text[1] < '0' || text[1] > '9' || text[2] < '0' || text[2] > '9')
		return 0;
	code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
	for (;;) {
		const char *eol = strstr(p, "\r\n");
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (!replyline_ok(p, n, code, eol == NULL))
			return 0;
		if (eol == NULL)
			return code;
		p = eol + 2;
	}
}

/* Strings the reply CMD carries: how many are required, how many allowed,
 * and whether a 32-bit index comes first. */
static int
shape(char cmd, int *need, int *max, int *index)
{
	*index = 0;
	switch (cmd) {
	case SMFIR_ACCEPT: case SMFIR_CONTINUE: case SMFIR_REJECT:
	case SMFIR_TEMPFAIL: case SMFIR_DISCARD: case SMFIR_SKIP:
	case SMFIR_PROGRESS: case SMFIR_SHUTDOWN: case SMFIR_CONN_FAIL:
		*need = *max = 0;
		return 0;
	case SMFIR_REPLYCODE: case SMFIR_ADDRCPT: case SMFIR_DELRCPT:
	case SMFIR_QUARANTINE:
		*need = *max = 1;
		return 0;
	case SMFIR_ADDRCPT_PAR: case SMFIR_CHGFROM:
		*need = 1;
		*max = 2;
		return 0;
	case SMFIR_INSHEADER: case SMFIR_CHGHEADER:
		*index = 1;
		/* FALLTHROUGH */
	case SMFIR_ADDHEADER:
		*need = *max = 2;
		return 0;
	}
	return -1;
}

enum milter_err
milter_dec_reply(char cmd, const unsigned char *data, size_t len,
    struct milter_reply *out)
{
	int need, max, index, i;
	size_t off = 0;
	const char *s[2] = { NULL, NULL };

	memset(out, 0, sizeof(*out));
	out->cmd = cmd;
	if (cmd == SMFIR_REPLBODY) {
		out->body = data;
		out->bodylen = len;
		return MILTER_OK;
	}
	if (shape(cmd, &need, &max, &index) < 0)
		return MILTER_E_UNKNOWN;
	if (index) {
		if (len < 4)
			return MILTER_E_FORMAT;
		out->index = get32(data);
		off = 4;
	}
	for (i = 0; i < max && off < len; i++)
		if ((s[i] = getstr(data, len, &off)) == NULL)
			return MILTER_E_FORMAT;
	if (i < need || off != len)
		return MILTER_E_FORMAT;
	out->s1 = s[0];
	out->s2 = s[1];
	if ((cmd == SMFIR_ADDHEADER || cmd == SMFIR_INSHEADER || cmd == SMFIR_CHGHEADER ||
	    cmd == SMFIR_ADDRCPT || cmd == SMFIR_ADDRCPT_PAR || cmd == SMFIR_DELRCPT ||
	    cmd == SMFIR_CHGFROM) && out->s1[0] == '\0')
		return MILTER_E_FORMAT;
	if (cmd == SMFIR_REPLYCODE && (out->code = milter_replycode_check(out->s1)) == 0)
		return MILTER_E_REPLYCODE;
	return MILTER_OK;
}
