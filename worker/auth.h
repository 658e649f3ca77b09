/* SPDX-License-Identifier: ISC */
/*
 * auth.h - SMTP AUTH (RFC 4954) with PLAIN and LOGIN, checked by the auth
 * hook.
 */
#ifndef POSTERN_AUTH_H
#define POSTERN_AUTH_H

struct session;

/* The AUTH command: ARG is "mechanism [initial-response]". */
void smtp_auth(struct session *, const char *arg);

#endif
