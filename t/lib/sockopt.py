# SPDX-License-Identifier: ISC
"""sockopt - read a socket option of another process's TCP connection, for
tests that check what a program set on a socket (TCP_NODELAY: a Nagle
stall costs 40 ms, which only a timed test would see otherwise, and timed
tests flake on a loaded machine).

    tcp_nodelay(pid, port) -> 1 / 0, None (PID has no TCP connection to
                              127.0.0.1:PORT) or an error text (the socket
                              cannot be read: no pidfd_getfd, no permission)

The socket is found through /proc (PID's descriptors, /proc/net/tcp*) and
duplicated with pidfd_getfd(2) (Linux 5.6; needs the right to ptrace PID:
the test's own descendants, or root).  Python 3 standard library only.
"""
import ctypes
import os
import socket

SYS_PIDFD_GETFD = 438   # the same number on every Linux architecture


def _inodes_to(port):
    found = set()
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[2].rsplit(':', 1)[1], 16) == port:
                        found.add(cols[9])
        except OSError:
            pass
    return found


def tcp_nodelay(pid, port):
    inodes = _inodes_to(port)
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if not (target.startswith('socket:[') and target[8:-1] in inodes):
            continue
        if not hasattr(os, 'pidfd_open'):
            return 'no os.pidfd_open (Python < 3.9)'
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            return 'pidfd_open: %s' % e
        try:
            mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            if mine < 0:
                return 'pidfd_getfd: %s' % os.strerror(ctypes.get_errno())
            with socket.socket(fileno=mine) as s:
                return 1 if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) else 0
        finally:
            os.close(pidfd)
    return None
