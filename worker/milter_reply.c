/* SPDX-License-Identifier: ISC */
/*
 * milter_reply.c - reading a milter's answer to one event (see milter.h,
 * milter_await): within the timeout (PROGRESS restarts it), the reply
 * turned into a verdict, the end-of-message edits checked against what was
 * negotiated and collected.
 */
#include "autoconf.h"
#include "milter.h"
#include "../common/log.h"
#include "../common/deadline.h"

#include <stdio.h>
#include <string.h>

/* The action an edit reply needs to have been negotiated. */
static uint32_t
edit_action(char cmd)
{
	switch (cmd) {
	case SMFIR_ADDHEADER: case SMFIR_INSHEADER: return SMFIF_ADDHDRS;
	case SMFIR_CHGHEADER: return SMFIF_CHGHDRS;
	case SMFIR_ADDRCPT: return SMFIF_ADDRCPT;
	case SMFIR_ADDRCPT_PAR: return SMFIF_ADDRCPT_PAR;
	case SMFIR_DELRCPT: return SMFIF_DELRCPT;
	case SMFIR_CHGFROM: return SMFIF_CHGFROM;
	case SMFIR_REPLBODY: return SMFIF_CHGBODY;
	case SMFIR_QUARANTINE: return SMFIF_QUARANTINE;
	}
	return 0;
}

static void
refuse(struct milter_result *res, enum milter_verdict v, const char *text)
{
	res->verdict = v;
	strlcpy(res->reply, text, sizeof(res->reply));
}

/* One edit at the end of the message: 0, or -1 after milter_fail(). */
static int
take_edit(struct milter *m, char cmd, const struct milter_reply *r,
    struct milter_edits *edits, struct milter_result *res)
{
	char why[200];

	if (edits == NULL) {
		milter_fail(m, res, "edit '%c' before the end of the message", cmd);
		return -1;
	}
	if ((m->neg.actions & edit_action(cmd)) == 0) {
		milter_fail(m, res, "edit '%c' it did not negotiate", cmd);
		return -1;
	}
	if (milter_edits_add(edits, r, (m->neg.pflags & SMFIP_HDR_LEADSPC) != 0,
	    why, sizeof(why)) < 0)
		log_warn("milter %s: edit '%c' left out: %s", m->set.name, cmd, why);
	return 0;
}

enum milter_await
milter_await(struct milter *m, char cmd, int timeout, struct milter_edits *edits,
    struct milter_result *res)
{
	struct timespec deadline = deadline_in(timeout);
	struct milter_reply r;
	const unsigned char *data;
	enum milter_err e;
	size_t len;
	char rc;

	for (;;) {
		if (milter_read_packet(m, &deadline, &rc, &data, &len) < 0) {
			milter_fail(m, res, "waiting for the reply to '%c': %s", cmd, m->why);
			return MILTER_AW_DONE;
		}
		if ((e = milter_dec_reply(rc, data, len, &r)) != MILTER_OK) {
			milter_fail(m, res, "reply '%c' to '%c': %s", rc, cmd, milter_strerror(e));
			return MILTER_AW_DONE;
		}
		switch (rc) {
		case SMFIR_PROGRESS:
			deadline = deadline_in(timeout);
			continue;
		case SMFIR_CONTINUE:
			return MILTER_AW_CONTINUE;
		case SMFIR_ACCEPT:
			return MILTER_AW_ACCEPT;
		case SMFIR_SKIP:
			if (cmd != SMFIC_BODY) {
				milter_fail(m, res, "skip in reply to '%c'", cmd);
				return MILTER_AW_DONE;
			}
			return MILTER_AW_SKIP;
		case SMFIR_REJECT:
			refuse(res, MILTER_V_REJECT, MILTER_REPLY_REJECT);
			return MILTER_AW_DONE;
		case SMFIR_TEMPFAIL:
			refuse(res, MILTER_V_TEMPFAIL, MILTER_REPLY_TEMPFAIL);
			return MILTER_AW_DONE;
		case SMFIR_REPLYCODE:
			refuse(res, r.code >= 500 ? MILTER_V_REJECT : MILTER_V_TEMPFAIL, r.s1);
			return MILTER_AW_DONE;
		case SMFIR_DISCARD:
			if (cmd == SMFIC_CONNECT || cmd == SMFIC_HELO || cmd == SMFIC_UNKNOWN) {
				milter_fail(m, res, "discard in reply to '%c'", cmd);
				return MILTER_AW_DONE;
			}
			res->verdict = MILTER_V_DISCARD;
			return MILTER_AW_DONE;
		case SMFIR_SHUTDOWN:
		case SMFIR_CONN_FAIL:
			refuse(res, MILTER_V_TEMPFAIL, MILTER_REPLY_SHUTDOWN);
			strlcpy(m->session_reply, MILTER_REPLY_SHUTDOWN, sizeof(m->session_reply));
			log_warn("milter %s: asks to close the session", m->set.name);
			milter_disconnect(m);
			return MILTER_AW_DONE;
		default:
			if (take_edit(m, rc, &r, edits, res) < 0)
				return MILTER_AW_DONE;
			continue;
		}
	}
}
