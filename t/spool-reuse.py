#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# spool-reuse.py - a worker keeps its spool file for its next
# session (worker/spool.c), except when an exec data step was handed its
# descriptor.  One worker; the spool file seen in /proc/WORKER/fd during
# each session: with the persistent data step it is the same inode in the
# second session, the second, shorter message (78 KiB: more than a message
# may keep in memory) cuts it down to its own size and is stored exactly,
# with none of the first (200 KiB); with the exec data step each session
# has a new file.
# Prints TAP.
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from postern_test import TAP, Server  # noqa: E402

ok = TAP.ok
held = []


def spool_file(srv):
    """(inode, size) of the worker's spool file, or None."""
    # the session has its file before the greeting, and the greeting
    # came before EHLO
    for pid in srv.worker_pids():
        fds = "/proc/%d/fd" % pid
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for n in names:
            try:
                target = os.readlink(os.path.join(fds, n))
                if target.startswith(srv.dir + "/") and target.endswith("(deleted)"):
                    # held open here, so its inode number is not given to
                    # a new file while this test runs
                    held.append(os.open(os.path.join(fds, n), os.O_RDONLY))
                    st = os.fstat(held[-1])
                    return st.st_ino, st.st_size
            except OSError:
                pass
    return None


def session(srv, subject, body):
    """One session, one message; the spool file seen after EHLO."""
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as s:
        s.ehlo("client.test")
        seen = spool_file(srv)
        msg = ("Subject: %s\r\n\r\n" % subject).encode() + body
        s.sendmail("a@client.test", ["b@mx.test"], msg)
    return seen


def run(persistent):
    cfg = {"server": {"workers": 1, "max_workers": 1, "min_spare": 0, "max_spare": 1}}
    if persistent:
        cfg["hooks"] = {"persistent": "data"}
    what = "persistent data step" if persistent else "exec data step"
    with Server(config=cfg) as srv:
        big = b"".join(b"A" * 98 + b"\r\n" for _ in range(2048))        # 200 KiB
        first = session(srv, "long", big)
        # over the 64 KiB a message may stay in memory: it goes to the file
        mid = b"".join(b"B" * 98 + b"\r\n" for _ in range(800))         # 78 KiB
        second = session(srv, "short", mid)
        ok(first is not None and second is not None, "%s: the worker's spool file is found" % what,
           "first %r second %r" % (first, second))
        if first is None or second is None:
            return
        if persistent:
            ok(first[0] == second[0], "%s: the second session reuses the first one's spool file" % what,
               "inodes %d and %d" % (first[0], second[0]))
            size = os.fstat(held[-1]).st_size
            ok(second[1] > 150 * 1024 and 64 * 1024 < size < 100 * 1024,
               "%s: the second, shorter message cut the file down to its own size" % what,
               "size %d when the second session started, %d after its message" % (second[1], size))
        else:
            ok(first[0] != second[0], "%s: the second session has a new spool file" % what,
               "inode %d both times" % first[0])
        end = time.monotonic() + 10
        while len(srv.messages()) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        short = srv.message("short")
        ok(short.count("B" * 98) == 800 and short.endswith("B" * 98 + "\n") and "AAAA" not in short,
           "%s: the second message is stored exactly, nothing of the first" % what, short[-300:])
        ok(srv.message("long").count("A" * 98) == 2048, "%s: the first message is stored whole" % what)
    while held:
        os.close(held.pop())


def main():
    run(True)
    run(False)
    return TAP.done()


if __name__ == "__main__":
    sys.exit(main())
