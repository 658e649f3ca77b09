/* SPDX-License-Identifier: ISC */
/*
 * fsync-pair.h - fsync() two descriptors at the same time, so that a
 * delivery waits for the disk once where it would wait twice.
 */
#ifndef POSTERN_FSYNC_PAIR_H
#define POSTERN_FSYNC_PAIR_H

/* fsync(A) in the calling thread while a helper thread does fsync(B); both
 * are done on return.  *ERR_A and *ERR_B get 0 or the errno value of each.
 * Where no thread can be started, one after the other. */
void fsync_pair(int a, int b, int *err_a, int *err_b);

#endif
