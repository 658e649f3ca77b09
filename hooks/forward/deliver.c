/* SPDX-License-Identifier: ISC */
/*
 * deliver.c - hand the message on: DATA with dot-stuffing, or BDAT chunks to
 * a CHUNKING server (and always for BINARYMIME), CR LF line ends either way.
 * The answer is "OK" only after the downstream's 250.  LMTP gives one reply
 * per recipient: each goes back as rcpt_action=ADDRESS NNN text, and the
 * overall action is OK only when every recipient was taken, the refusal when
 * none was (the first 5xx if all were permanent, else the first 4xx), and
 * 451 4.3.0 for a mix (the recipients taken get a duplicate on retry).
 */
#include "deliver.h"
#include "body.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK	65536
#define RCPT_LINES_MAX	60000	/* posternd reads policy answers of < 64 KiB */

struct rcpt_result {
	int code;
	struct answer a;
};

/* Read and throw away what is left of the message. */
static void
discard(struct preader *rd, unsigned long long left)
{
	char buf[CHUNK];

	while (left > 0) {
		ssize_t n = preader_body(rd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n <= 0)
			exit(75);       /* posternd went away mid-message */
		left -= (unsigned long long)n;
	}
}

/* One BDAT chunk and its reply. */
static int
bdat(struct fwd *f, const char *buf, size_t n, int last, struct reply *r)
{
	int rc;
	char cmd[64];
	int cl = snprintf(cmd, sizeof(cmd), "BDAT %zu%s\r\n", n, last ? " LAST" : "");

	if ((rc = conn_write(&f->c, cmd, (size_t)cl, f->o.timeout)) != CONN_OK ||
	    (rc = conn_write(&f->c, buf, n, f->o.data_timeout)) != CONN_OK)
		return rc;
	if (last)
		return CONN_OK;        /* the replies are read by the caller */
	if ((rc = conn_reply(&f->c, r, f->o.data_timeout)) != CONN_OK)
		return rc;
	return r->code == 250 ? CONN_OK : 1;
}

/*
 * Stream the message.  Returns CONN_OK when the end was sent (replies still
 * to read), 1 when the server refused a chunk (R holds its reply), or a
 * CONN_* error.  Reads all SIZE bytes in every case.
 */
static int
stream(struct fwd *f, struct preader *rd, unsigned long long size, int chunking,
    int binary, struct reply *r)
{
	static char in[CHUNK], out[2 * CHUNK + 8];
	struct body_conv bc;
	unsigned long long left = size;
	int rc = CONN_OK;

	body_init(&bc, !chunking, binary);
	if (!chunking) {
		if ((rc = conn_command(&f->c, f->o.timeout, "DATA")) != CONN_OK ||
		    (rc = conn_reply(&f->c, r, f->o.timeout)) != CONN_OK) {
			discard(rd, left);
			return rc;
		}
		if (r->code != 354) {
			discard(rd, left);
			return 1;
		}
	}
	while (left > 0) {
		ssize_t n = preader_body(rd, in, left < sizeof(in) ? (size_t)left : sizeof(in));
		size_t o;
		if (n <= 0)
			exit(75);
		left -= (unsigned long long)n;
		o = body_convert(&bc, in, (size_t)n, out);
		if (left == 0)
			o += body_finish(&bc, out + o);
		rc = chunking ? bdat(f, out, o, left == 0, r) : conn_write(&f->c, out, o, f->o.data_timeout);
		if (rc != CONN_OK) {
			discard(rd, left);
			return rc;
		}
	}
	if (size == 0) {
		size_t o = body_finish(&bc, out);
		rc = chunking ? bdat(f, out, o, 1, r) : conn_write(&f->c, out, o, f->o.data_timeout);
	}
	return rc;
}

static void
emit(FILE *out, const struct answer *a)
{
	fprintf(out, "action=%s\n\n", a->action);
	fflush(out);
}

/* Add "rcpt_action=ADDRESS NNN X.Y.Z text" to LINES, the text cut or left
 * out when the answer would grow past what posternd reads; a recipient
 * that does not fit at all gets the overall answer (a duplicate on retry
 * at worst, never a loss).  Returns 0 when it did not fit. */
static int
add_rcpt_line(char *lines, size_t *len, const char *addr, const struct answer *a)
{
	size_t room = RCPT_LINES_MAX - *len;
	int n = snprintf(lines + *len, room, "rcpt_action=%s %.120s\n", addr, a->action);

	if (n > 0 && (size_t)n < room) {
		*len += (size_t)n;
		return 1;
	}
	n = snprintf(lines + *len, room, "rcpt_action=%s %.9s\n", addr, a->action);
	if (n > 0 && (size_t)n < room) {
		*len += (size_t)n;
		return 1;
	}
	lines[*len] = '\0';
	return 0;
}

/* LMTP: one reply per recipient taken at RCPT, in that order. */
static void
lmtp_results(struct fwd *f, struct answer *a, FILE *out)
{
	static char lines[RCPT_LINES_MAX];
	struct reply r;
	size_t i, taken = 0, len = 0, left_out = 0;
	int first4 = -1, first5 = -1, rc = CONN_OK;
	struct rcpt_result *res = calloc(f->nrcpts, sizeof(*res));

	if (res == NULL) {
		fwd_answer(a, "451 4.3.0 out of memory");
		fwd_drop(f);
		emit(out, a);
		return;
	}
	lines[0] = '\0';
	for (i = 0; i < f->nrcpts; i++) {
		if (rc == CONN_OK && (rc = conn_reply(&f->c, &r, f->o.data_timeout)) == CONN_OK) {
			res[i].code = r.code;
			fwd_answer_reply(&res[i].a, &r);
			if (r.code < 300)
				fwd_answer(&res[i].a, "250 2.0.0 %s", r.text);
		} else {
			/* the server may have delivered it: a duplicate, not a loss */
			res[i].code = 451;
			fwd_answer(&res[i].a, "451 4.4.2 downstream %s: no reply for this recipient: %s",
			    f->o.target, f->c.why);
		}
		if (res[i].code < 300)
			taken++;
		else if (res[i].code >= 500 && first5 < 0)
			first5 = (int)i;
		else if (res[i].code < 500 && first4 < 0)
			first4 = (int)i;
		if (left_out > 0 || !add_rcpt_line(lines, &len, f->rcpts[i].addr, &res[i].a))
			left_out++;
		fprintf(stderr, "postern-forward: %s: <%s>: %s\n", f->o.target, f->rcpts[i].addr,
		    res[i].a.action);
	}
	if (left_out > 0)
		fprintf(stderr, "postern-forward: %s: the per-recipient results of %zu recipients do not fit "
		    "in an answer: they get the overall one\n", f->o.target, left_out);
	fputs(lines, out);
	if (taken == f->nrcpts)
		fwd_answer(a, "OK");
	else if (taken > 0)
		fwd_answer(a, "451 4.3.0 downstream %s took %zu of %zu recipients: try again later "
		    "(those taken will get the message twice)", f->o.target, taken, f->nrcpts);
	else
		*a = res[first4 >= 0 ? first4 : first5].a;
	if (rc != CONN_OK)
		fwd_drop(f);
	f->open = 0;
	free(res);
	emit(out, a);
}

void
fwd_data(struct fwd *f, const struct preq *q, struct preader *rd, unsigned long long size,
    FILE *out)
{
	struct answer a;
	struct reply r;
	int binary = strcmp(preq_get(q, "postern_body"), "BINARYMIME") == 0, chunking, rc;

	a.action[0] = '\0';
	if (fwd_sync(f, q, &a) < 0) {
		discard(rd, size);
		emit(out, &a);
		return;
	}
	chunking = (f->caps & CAP_CHUNKING) != 0;
	rc = stream(f, rd, size, chunking, binary, &r);
	if (rc == 1) {          /* 354 missing, or a chunk refused */
		fwd_answer_reply(&a, &r);
		if (r.code < 400)
			fwd_answer(&a, "451 4.5.0 downstream %s: unexpected %d to %s", f->o.target,
			    r.code, chunking ? "BDAT" : "DATA");
		fwd_reset(f);
		emit(out, &a);
		return;
	}
	if (rc != CONN_OK) {
		fwd_answer(&a, "451 %s downstream %s: sending the message: %s",
		    rc == CONN_TIMEOUT ? "4.4.1" : "4.4.2", f->o.target, f->c.why);
		fprintf(stderr, "postern-forward: %s: sending the message: %s\n", f->o.target, f->c.why);
		fwd_drop(f);
		emit(out, &a);
		return;
	}
	if (f->o.lmtp) {
		lmtp_results(f, &a, out);
		return;
	}
	if ((rc = conn_reply(&f->c, &r, f->o.data_timeout)) != CONN_OK) {
		fwd_answer(&a, "451 %s downstream %s: no answer to the message: %s",
		    rc == CONN_GARBAGE ? "4.5.0" : rc == CONN_TIMEOUT ? "4.4.1" : "4.4.2",
		    f->o.target, f->c.why);
		fprintf(stderr, "postern-forward: %s: after the message: %s\n", f->o.target, f->c.why);
		fwd_drop(f);
	} else {
		fwd_answer_reply(&a, &r);
		if (r.code >= 200 && r.code < 300)
			fprintf(stderr, "postern-forward: %s: %s\n", f->o.target, r.text);
		else if (r.code < 400)
			fwd_answer(&a, "451 4.5.0 downstream %s: unexpected %d after the message",
			    f->o.target, r.code);
		if (r.code == 421)
			fwd_drop(f);
	}
	f->open = 0;
	emit(out, &a);
}
