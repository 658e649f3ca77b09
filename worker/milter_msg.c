/* SPDX-License-Identifier: ISC */
/*
 * milter_msg.c - the message part of the milter client: the exact CR LF
 * message (headers, our Received: among them, then the body) streamed as
 * HEADER packets, EOH, BODY chunks of at most 65535 bytes and EOB, within
 * content_timeout, honouring NO* / NR_* / SKIP; the edits the milter asks
 * for at the end are collected into a struct milter_edits.
 */
#include "autoconf.h"
#include "milter.h"

#include <stdlib.h>
#include <string.h>

/* One content packet (in m->out, after any macros): see milter_send(). */
static enum milter_await
content(struct milter *m, char cmd, int enc, uint32_t nrflag,
    struct milter_edits *edits, struct milter_result *res)
{
	return milter_send(m, cmd, enc, nrflag, m->set.content_timeout, edits, res);
}

/* One HEADER packet; name and value cut so that the packet fits in a
 * chunk (a header field that long is hostile anyway). */
static enum milter_await
header(struct milter *m, const char *msg, const struct milter_hdr *h,
    struct milter_result *res)
{
	char name[1024];
	char *value;
	size_t nl = h->namelen < sizeof(name) ? h->namelen : sizeof(name) - 1;
	enum milter_await aw;

	memcpy(name, msg + h->start, nl);
	name[nl] = '\0';
	if ((value = milter_hdr_value(msg, h, (m->neg.pflags & SMFIP_HDR_LEADSPC) != 0)) == NULL) {
		milter_fail(m, res, "out of memory");
		return MILTER_AW_DONE;
	}
	if (strlen(value) > MILTER_CHUNK - sizeof(name))
		value[MILTER_CHUNK - sizeof(name)] = '\0';
	aw = content(m, SMFIC_HEADER, milter_enc_header(&m->out, name, value),
	    SMFIP_NR_HDR, NULL, res);
	free(value);
	return aw;
}

/* Headers, EOH, body: CONTINUE when EOB is next, else why not. */
static enum milter_await
stream(struct milter *m, const struct milter_macros *mm, const char *msg,
    size_t len, struct milter_result *res)
{
	struct milter_hdr *hdrs;
	size_t body, i;
	int sep;
	long n = milter_headers(msg, len, &hdrs, &body, &sep);
	enum milter_await aw = MILTER_AW_CONTINUE;

	if (n < 0) {
		milter_fail(m, res, "out of memory");
		return MILTER_AW_DONE;
	}
	for (i = 0; i < (size_t)n && !(m->neg.pflags & SMFIP_NOHDRS) &&
	    aw == MILTER_AW_CONTINUE; i++)
		aw = header(m, msg, &hdrs[i], res);
	free(hdrs);
	if (aw == MILTER_AW_CONTINUE && !(m->neg.pflags & SMFIP_NOEOH)) {
		if (milter_put_macros(m, SMFIC_EOH, mm) < 0)
			aw = content(m, SMFIC_EOH, -1, 0, NULL, res);
		else
			aw = content(m, SMFIC_EOH, milter_enc_empty(&m->out, SMFIC_EOH),
			    SMFIP_NR_EOH, NULL, res);
	}
	for (i = body; aw == MILTER_AW_CONTINUE && i < len &&
	    !(m->neg.pflags & SMFIP_NOBODY); i += MILTER_CHUNK) {
		size_t piece = len - i < MILTER_CHUNK ? len - i : MILTER_CHUNK;
		aw = content(m, SMFIC_BODY, milter_enc_body(&m->out,
		    (const unsigned char *)msg + i, piece), SMFIP_NR_BODY, NULL, res);
	}
	return aw == MILTER_AW_SKIP ? MILTER_AW_CONTINUE : aw;
}

void
milter_message(struct milter *m, const struct milter_macros *mm,
    const char *msg, size_t len, struct milter_edits *edits,
    struct milter_result *res)
{
	enum milter_await aw;

	memset(res, 0, sizeof(*res));
	res->verdict = MILTER_V_PASS;
	if (m->state != MILTER_OPEN)
		return;
	if (m->fd < 0) {        /* lost while sending held events */
		milter_fail(m, res, "%s", m->why);
		return;
	}
	aw = stream(m, mm, msg, len, res);
	if (aw == MILTER_AW_CONTINUE) {
		if (milter_put_macros(m, SMFIC_BODYEOB, mm) < 0)
			aw = content(m, SMFIC_BODYEOB, -1, 0, NULL, res);
		else
			aw = content(m, SMFIC_BODYEOB, milter_enc_empty(&m->out, SMFIC_BODYEOB),
			    0, edits, res);
		if (m->state == MILTER_OPEN)
			m->in_msg = 0;  /* the milter is done with this message */
		return;
	}
	if (m->state == MILTER_OPEN)
		m->state = MILTER_MSG_DONE;     /* accepted, refused or discarded early */
}
