/* SPDX-License-Identifier: ISC */
/*
 * body.h - turn the message as posternd hands it to a data step (LF or
 * CR LF line ends) into what goes on the wire: CR LF line ends and, for
 * DATA, dot-stuffing (RFC 5321 4.5.2).  Pure: no I/O.
 */
#ifndef POSTERN_FORWARD_BODY_H
#define POSTERN_FORWARD_BODY_H

#include <stddef.h>

struct body_conv {
	int dot;		/* dot-stuff (DATA); 0 for BDAT */
	int binary;		/* BINARYMIME: only the header is converted */
	int bol;		/* at the beginning of a line */
	int prev_cr;		/* the last byte was CR */
	int in_header;		/* still in the header section */
	int header_bol_empty;	/* the line so far is empty (end of header) */
};

void body_init(struct body_conv *bc, int dot, int binary);
/* Convert N bytes of IN into OUT (room for 2 * N + 2 bytes): returns the
 * bytes written to OUT. */
size_t body_convert(struct body_conv *bc, const char *in, size_t n, char *out);
/* What ends the message: CR LF if the last line was not ended, then, with
 * DOT, ".\r\n".  OUT has room for 5 bytes; returns the bytes written. */
size_t body_finish(struct body_conv *bc, char *out);

#endif
