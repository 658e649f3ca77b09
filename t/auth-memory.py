#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# auth-memory.py - credentials do not stay in a worker's memory after an
# AUTH exchange (issue 13, finding 9): once AUTH PLAIN (initial response)
# and AUTH LOGIN (334 challenges) have succeeded and the session goes on,
# the worker's writable memory (read through /proc/PID/mem, so root only)
# holds neither the password nor the base64 the client sent.  The read
# buffer and the command line buffer are wiped after the exchange.
#
# Python 3 standard library only.  Prints TAP.
import base64
import os
import re
import secrets
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import IS_ROOT, TAP, Lines, Server, write_script  # noqa: E402

ok, is_, note = TAP.ok, TAP.is_, TAP.diag


def memory(pid):
    """The bytes of every writable mapping of PID (but the giant ones that
    AddressSanitizer reserves for its shadow memory: the process's own data
    is never in a mapping of 256 MiB or more)."""
    out = []
    with open('/proc/%d/maps' % pid) as maps, open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+)', line)
            if not m or 'w' not in m.group(3):
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start >= 256 << 20:
                continue
            try:
                mem.seek(start)
                out.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError, MemoryError):
                pass
    return b''.join(out)


def serving_worker(srv):
    end = time.monotonic() + 5
    while time.monotonic() < end:
        for pid in srv.worker_pids():
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    if b'worker 127.0.0.1' in f.read():
                        return pid
            except OSError:
                pass
        time.sleep(0.05)
    return None


def check(srv, mech):
    password = 'pw-' + secrets.token_hex(12)
    plain = base64.b64encode(('\0bob\0' + password).encode()).decode()
    s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
    c = Lines(s)
    c.reply()
    c.cmd('EHLO client.test')
    if mech == 'PLAIN':
        secrets_sent = [password.encode(), plain.encode()]
        r = c.cmd('AUTH PLAIN ' + plain) or 'EOF'
    else:
        pw64 = base64.b64encode(password.encode()).decode()
        secrets_sent = [password.encode(), pw64.encode()]
        c.cmd('AUTH LOGIN')
        c.cmd(base64.b64encode(b'bob').decode())
        r = c.cmd(pw64) or 'EOF'
    ok(r.startswith('235'), '%s: 235' % mech, r)
    r = c.cmd('NOOP') or 'EOF'
    ok(r.startswith('250'), '%s: the session goes on (NOOP)' % mech, r)
    pid = serving_worker(srv)
    ok(pid, '%s: the worker serving the session' % mech)
    if pid:
        mem = memory(pid)
        ok(len(mem) > 100000, '%s: its writable memory was read (%d bytes)' % (mech, len(mem)))
        found = [x.decode() for x in secrets_sent if x in mem]
        ok(not found, '%s: neither the password nor its base64 is in the worker\'s memory' % mech, found)
    c.cmd('QUIT')
    s.close()


def main():
    if not IS_ROOT:
        return TAP.skip_all('reading a worker\'s memory needs root')
    d = postern_test.workdir()
    hook = write_script(d + '/auth', '#!/bin/sh\ncat >/dev/null\nexit 0\n')
    srv = Server(dir=d, config={'hooks': {'auth': hook},
                                'smtp': {'auth': 'optional', 'insecure_auth': 'yes'}})
    with srv:
        TAP.run(check, srv, 'PLAIN')
        TAP.run(check, srv, 'LOGIN')
    return TAP.done()


if __name__ == '__main__':
    postern_test.run_main(main)
