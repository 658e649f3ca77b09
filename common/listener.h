/* SPDX-License-Identifier: ISC */
/*
 * listener.h - a bound listening socket and the endpoint it belongs to;
 * made by the master, inherited by the workers.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

struct endpoint;

struct listener {
	int fd;
	int endpoint;           /* index into config->endpoints */
	char addr[80];          /* as configured */
};

#define MAX_LISTENERS 64

#endif
