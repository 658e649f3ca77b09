/* SPDX-License-Identifier: ISC */
/*
 * xtext.h - RFC 3461 4 xtext: bytes outside '!'..'~', '+' and '=' as "+HH".
 * Used for XCLIENT values (postern-forward) and the envelope headers of
 * postern-webhook.
 */
#ifndef POSTERN_XTEXT_H
#define POSTERN_XTEXT_H

#include <stddef.h>

/* Encode IN into OUT (size OUTLEN, NUL-terminated), and the bytes of ALSO
 * too ("," where a list is comma-separated); returns 0, or -1 when it does
 * not fit. */
int xtext_encode(const char *in, const char *also, char *out, size_t outlen);

#endif
