/* SPDX-License-Identifier: ISC */
/*
 * body.c - line ends and dot-stuffing for the message that postern-forward
 * sends downstream.  A LF that is not preceded by CR becomes CR LF (the data
 * step may get LF line ends, see data_crlf in postern.conf(5)); a bare CR is
 * passed as it is; a line that starts with '.' gets a second one in DATA.
 * With BINARYMIME (sent with BDAT) only the header section is converted, the
 * body is passed byte for byte.
 */
#include "body.h"

void
body_init(struct body_conv *bc, int dot, int binary)
{
	bc->dot = dot;
	bc->binary = binary;
	bc->bol = 1;
	bc->prev_cr = 0;
	bc->in_header = 1;
	bc->header_bol_empty = 1;
}

size_t
body_convert(struct body_conv *bc, const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char ch = in[i];

		if (bc->binary && !bc->in_header) {
			out[o++] = ch;
			continue;
		}
		if (ch == '\n') {
			if (!bc->prev_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			if (bc->in_header && bc->header_bol_empty)
				bc->in_header = 0;
			bc->bol = 1;
			bc->header_bol_empty = 1;
			bc->prev_cr = 0;
			continue;
		}
		if (bc->bol && ch == '.' && bc->dot)
			out[o++] = '.';
		out[o++] = ch;
		bc->bol = 0;
		bc->prev_cr = ch == '\r';
		if (ch != '\r')
			bc->header_bol_empty = 0;
	}
	return o;
}

size_t
body_finish(struct body_conv *bc, char *out)
{
	size_t o = 0;

	if (!bc->bol && !(bc->binary && !bc->in_header)) {
		if (!bc->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	} else if (!bc->bol && bc->dot) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	if (bc->dot) {
		out[o++] = '.';
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}
