/* SPDX-License-Identifier: ISC */
/*
 * writeall.h - write a whole buffer to a blocking descriptor (a file, a
 * pipe that has room), the one loop for short writes and EINTR.
 */
#ifndef POSTERN_WRITEALL_H
#define POSTERN_WRITEALL_H

#include <stddef.h>

/* Write the LEN octets at BUF to FD.  *WRITTEN (if not NULL) gets how many
 * went out.  Returns 0, or -1 with errno set (ENOSPC for a write of 0). */
int write_all(int fd, const void *buf, size_t len, size_t *written);

#endif
