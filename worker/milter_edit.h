/* SPDX-License-Identifier: ISC */
/*
 * milter_edit.h - the end-of-message edits milters ask for, collected into
 * a list while the milter answers, then applied in one pure function to the
 * message (CR LF bytes) and the envelope.  Also the header splitter that
 * both the edits and the milter client use, so that the headers a milter
 * is shown are exactly the ones its indexes count.
 */
#ifndef POSTERN_MILTER_EDIT_H
#define POSTERN_MILTER_EDIT_H

#include <stddef.h>
#include <stdint.h>

struct milter_reply;

/* One header field of a message: bytes [start, end) including its CR LF
 * and folded lines; the name is [start, start + namelen); the value starts
 * after the colon at start + value. */
struct milter_hdr {
	size_t start, end, namelen, value;
};

/* Split MSG into header fields; *BODY is where the body starts (after the
 * empty line, if any: *SEP says whether there was one).  A line that is not
 * a header field (nor a folded continuation) ends the headers.  Returns
 * the number of fields, or -1 when memory ran out (*HDRS is malloc'ed). */
long milter_headers(const char *msg, size_t len, struct milter_hdr **hdrs,
    size_t *body, int *sep);

/* The value of H as a milter sees it: folds as LF (no CR), no line end;
 * leading blanks removed unless LEADSPC.  Returns a malloc'ed string. */
char *milter_hdr_value(const char *msg, const struct milter_hdr *h, int leadspc);

enum milter_edit_kind {
	MILTER_ADDHEADER, MILTER_INSHEADER, MILTER_CHGHEADER,
	MILTER_ADDRCPT, MILTER_DELRCPT, MILTER_CHGFROM, MILTER_REPLBODY,
};

struct milter_edit {
	enum milter_edit_kind kind;
	uint32_t index;
	char *name;             /* header name, or the address */
	char *value;            /* header value (CR LF folded), ESMTP args or NULL */
	size_t len;             /* REPLBODY: bytes in value */
};

struct milter_edits {
	struct milter_edit *v;
	size_t n, cap;
	char quarantine[256];   /* QUARANTINE reason; "" if none */
};

void milter_edits_free(struct milter_edits *);

/* Add the edit in reply R (ADDHEADER .. REPLBODY, QUARANTINE).  LEADSPC:
 * the milter negotiated SMFIP_HDR_LEADSPC (header values keep their
 * leading blank).  Returns 0, or -1 with the reason in WHY: the edit is then
 * left out (a header name or value that is not a valid header field). */
int milter_edits_add(struct milter_edits *, const struct milter_reply *r,
    int leadspc, char *why, size_t whylen);

/* The envelope the edits change: addresses without angle brackets,
 * ESMTP arguments as one string ("" if none). */
struct milter_rcpt {
	char *addr;
	char *args;
};
struct milter_envelope {
	char *sender;
	char *sender_args;
	struct milter_rcpt *rcpts;
	size_t nrcpts, cap;
};

int milter_envelope_set_sender(struct milter_envelope *, const char *addr,
    const char *args);
int milter_envelope_add_rcpt(struct milter_envelope *, const char *addr,
    const char *args);
void milter_envelope_free(struct milter_envelope *);

/*
 * Apply EDITS to the message MSG (LEN bytes, CR LF) and to ENV (changed in
 * place).  Headers: add = at the end of the header fields; insert at index
 * (0 = the very top); change the INDEXth field of that name (any case,
 * 1-based, 0 counts as 1; an empty value deletes it; an index past the
 * last adds the field at the end, as Sendmail does).  Body: the REPLBODY
 * chunks together replace it.  Returns the new message in *OUT (malloc'ed,
 * *OUTLEN bytes), or -1 when memory ran out.
 */
int milter_edits_apply(const struct milter_edits *, const char *msg, size_t len,
    struct milter_envelope *env, char **out, size_t *outlen);

#endif
