/* SPDX-License-Identifier: ISC */
/*
 * fuzz-milter.c - libFuzzer harness for the milter reply decoder
 * (worker/milter_proto.c) and the edits it leads to (worker/milter_edit.c):
 * the input is a stream of packets as a milter would send them; each is
 * framed, decoded (OPTNEG or any reply), edits are collected and finally
 * applied to a small message and envelope.  Invariants: a decoded packet
 * never points outside the input, a REPLYCODE accepted is 4xx/5xx, the
 * edited message still ends its header block and its lines with CR LF.
 */
#include "autoconf.h"
#include "worker/milter_proto.h"
#include "worker/milter_edit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char msg[] =
    "Received: from x (x [192.0.2.1])\r\n\tby mx; Sat, 5 Dec 2026 12:00:00 +0000\r\n"
    "Subject: hello\r\n"
    "To: <a@example.org>\r\n"
    "subject: again\r\n"
    "\r\n"
    "body line\r\n";

static void
inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
	if (p != NULL && ((const uint8_t *)p < data || (const uint8_t *)p + n > data + size))
		abort();
}

static void
check_message(const char *out, size_t n)
{
	size_t i;

	/* every LF is preceded by CR, and the header block is closed (the
	 * message starts with the empty line if every header was deleted) */
	for (i = 0; i < n; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	if (n < 2 || (memcmp(out, "\r\n", 2) != 0 && memmem(out, n, "\r\n\r\n", 4) == NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_edits ed;
	struct milter_envelope env;
	size_t off = 0;
	char why[200];

	memset(&ed, 0, sizeof(ed));
	memset(&env, 0, sizeof(env));
	if (milter_envelope_set_sender(&env, "s@example.org", "") < 0 ||
	    milter_envelope_add_rcpt(&env, "a@example.org", "NOTIFY=NEVER") < 0)
		abort();
	while (off < size) {
		const unsigned char *d;
		size_t len, used;
		char cmd;
		enum milter_err e = milter_frame(data + off, size - off, &cmd, &d, &len, &used);

		if (e != MILTER_OK)
			break;
		if (used > size - off || used != len + 5)
			abort();
		inside(d, len, data, size);
		if (cmd == SMFIC_OPTNEG) {
			struct milter_optneg neg;
			int st;
			if (milter_dec_optneg(d, len, &neg) == MILTER_OK)
				for (st = 0; st < MILTER_STAGES; st++)
					if (neg.has_list[st] && strlen(neg.list[st]) >= MILTER_SYMLIST_MAX)
						abort();
		} else {
			struct milter_reply r;
			if (milter_dec_reply(cmd, d, len, &r) == MILTER_OK) {
				if (r.s1)
					inside(r.s1, strlen(r.s1) + 1, data, size);
				if (r.s2)
					inside(r.s2, strlen(r.s2) + 1, data, size);
				if (cmd == SMFIR_REPLYCODE && (r.code < 400 || r.code > 599))
					abort();
				if (cmd != SMFIR_REPLYCODE && cmd != SMFIR_ACCEPT && cmd != SMFIR_CONTINUE &&
				    cmd != SMFIR_REJECT && cmd != SMFIR_TEMPFAIL && cmd != SMFIR_DISCARD &&
				    cmd != SMFIR_SKIP && cmd != SMFIR_PROGRESS && cmd != SMFIR_SHUTDOWN &&
				    cmd != SMFIR_CONN_FAIL)
					(void)milter_edits_add(&ed, &r, cmd & 1, why, sizeof(why));
			}
		}
		off += used;
	}
	{
		char *out = NULL;
		size_t outlen = 0;
		if (milter_edits_apply(&ed, msg, sizeof(msg) - 1, &env, &out, &outlen) == 0) {
			check_message(out, outlen);
			free(out);
		}
	}
	milter_edits_free(&ed);
	milter_envelope_free(&env);
	return 0;
}
