#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""noop-policy.py - the smallest persistent hook: answers action=OK to every
request of the Postfix policy protocol, reading (and discarding) the message
that follows a postern_data request.  It reads in large chunks and looks
only for the empty line and size=, as a hook that cares about speed would.
The benchmark's "persistent no-op" data hook."""
import os
import re

SIZE = re.compile(rb"(?:^|\n)size=(\d+)\n")
buf = b""
while True:
    end = buf.find(b"\n\n")
    while end < 0 and not (buf == b"\n"):
        chunk = os.read(0, 65536)
        if not chunk:
            raise SystemExit(0)
        buf += chunk
        end = buf.find(b"\n\n")
    if buf.startswith(b"\n"):           # an empty request
        head, buf = b"", buf[1:]
    else:
        head, buf = buf[:end + 1], buf[end + 2:]
    m = SIZE.search(head)
    data = (b"\n" + head).find(b"\nrequest=postern_data\n") >= 0    # else size= is MAIL FROM's SIZE=
    need = int(m.group(1)) if m and data else 0
    while len(buf) < need:
        chunk = os.read(0, min(65536, need - len(buf)))
        if not chunk:
            raise SystemExit(0)
        buf += chunk
    buf = buf[need:]
    os.write(1, b"action=OK\n\n")
