#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# ratelimit.py - per-client limits across sessions (issue 13, "limits people
# expect"): limit_exempt (default 127.0.0.0/8 ::1/128) exempts loopback from
# every per-client limit, so 50 parallel sessions from 127.0.0.1 are all
# served (the 21st used to get 421); and the anvil-style rates kept in
# shared memory by all workers: max_connection_rate (421 4.7.0 before the
# session), max_message_rate (421 4.7.0 at MAIL), max_recipient_rate
# (452 4.7.1 at RCPT), max_auth_failure_rate (454 4.7.0, then 421), each
# counted across sessions, and none of them for an exempt client.
#
# Python 3 standard library, mkpasswd (whois).  Prints TAP.
import base64
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import BUILDDIR, TAP, Lines, Server, install_program  # noqa: E402

ok, is_, note = TAP.ok, TAP.is_, TAP.diag


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    c = Lines(s)
    c.greeting = c.reply(30) or 'EOF'
    return s, c


def parallel_loopback():
    srv = Server(config={'server': {'workers': 4, 'max_spare': 60}})
    with srv:
        conns = []
        for _ in range(50):
            try:
                conns.append(connect(srv.port))
            except OSError as e:
                conns.append((None, type('E', (), {'greeting': 'EOF %s' % e})()))
        greets = [c.greeting for _, c in conns]
        bad = [g for g in greets if not g.startswith('220')]
        ok(not bad, '50 parallel sessions from 127.0.0.1 (limit_exempt default): every one gets 220',
           bad[:3])
        served = sum(1 for s, c in conns if s is not None and (c.cmd('NOOP') or '').startswith('250'))
        is_(served, 50, 'and all 50 are served at once')
        for s, c in conns:
            if s is not None:
                s.close()


def connection_rate():
    srv = Server(config={'limits': {'limit_exempt': '', 'max_connection_rate': 3}})
    with srv:
        greets = []
        for _ in range(4):
            s, c = connect(srv.port)
            greets.append(c.greeting)
            c.cmd('QUIT')
            s.close()
        # the harness's readiness probe was the first connection
        ok(all(g.startswith('220') for g in greets[:2]),
           'max_connection_rate = 3: the probe and two connections in a minute get 220', greets)
        ok(greets[2].startswith('421 4.7.0 ') and greets[3].startswith('421 4.7.0 '),
           'the fourth and fifth get 421 4.7.0 (counted across sessions and workers)', greets)
        ok(srv.wait_log(r'refused \[127\.0\.0\.1\]:\d+ on smtp: too many connections in a minute'),
           'the refusal is logged')


def session_rates():
    d = postern_test.workdir()
    hashed = subprocess.run(['mkpasswd', '-m', 'sha-512', 'right'], capture_output=True,
                            text=True, timeout=30, check=True).stdout.strip()
    with open(d + '/passwd', 'w') as f:
        f.write('bob:%s\n' % hashed)
    os.chmod(d + '/passwd', 0o644)
    passwd = install_program(d, BUILDDIR + '/hooks/postern-passwd')
    rates = {'max_message_rate': 2, 'max_recipient_rate': 3, 'max_auth_failure_rate': 2}
    conf = {'limits': rates, 'hooks': {'auth': '%s %s/passwd' % (passwd, d)},
            'smtp': {'limit_exempt': '', 'auth': 'optional', 'insecure_auth': 'yes'},
            'exempt': {'auth': 'optional', 'insecure_auth': 'yes'}}
    srv = Server(dir=d, endpoints=('smtp', 'exempt'), config=conf)
    with srv:
        port, free = srv.ports['smtp'], srv.ports['exempt']
        # messages: two sessions, one MAIL each, then a third
        replies = []
        for _ in range(3):
            s, c = connect(port)
            c.cmd('EHLO client.test')
            replies.append(c.cmd('MAIL FROM:<a@example.org>') or 'EOF')
            c.cmd('QUIT')
            s.close()
        ok(all(r.startswith('250') for r in replies[:2]), 'max_message_rate = 2: two MAIL in two sessions', replies)
        ok(replies[2].startswith('421 4.7.0 '), 'the third MAIL in the minute gets 421 4.7.0', replies[2])
        # recipients: 3 then 452
        s, c = connect(free)      # exempt: no message count there
        c.cmd('EHLO client.test')
        r = [c.cmd('MAIL FROM:<a@example.org>') or 'EOF'] + \
            [c.cmd('RCPT TO:<r%d@example.org>' % i) or 'EOF' for i in range(6)]
        ok(all(x.startswith('250') for x in r), 'an exempt endpoint (limit_exempt default): no rate applies', r)
        c.cmd('QUIT')
        s.close()
        auth_rate(srv)


def rcpt_rate():
    srv = Server(config={'limits': {'limit_exempt': '', 'max_recipient_rate': 3}})
    with srv:
        s, c = connect(srv.port)
        c.cmd('EHLO client.test')
        c.cmd('MAIL FROM:<a@example.org>')
        r = [c.cmd('RCPT TO:<r%d@example.org>' % i) or 'EOF' for i in range(2)]
        c.cmd('QUIT')
        s.close()
        s, c = connect(srv.port)
        c.cmd('EHLO client.test')
        c.cmd('MAIL FROM:<a@example.org>')
        r += [c.cmd('RCPT TO:<r%d@example.org>' % i) or 'EOF' for i in range(2)]
        ok(all(x.startswith('250') for x in r[:3]), 'max_recipient_rate = 3: three RCPT in two sessions', r)
        ok(r[3].startswith('452 4.7.1 '), 'the fourth gets 452 4.7.1', r[3])
        c.cmd('DATA')
        rr = c.cmd('Subject: rate\r\n\r\nbody\r\n.') or 'EOF'
        ok(rr.startswith('250 '), 'the message to the accepted recipient goes through', rr)
        c.cmd('QUIT')
        s.close()


def auth_rate(srv):
    port = srv.ports['smtp']
    bad = 'AUTH PLAIN ' + base64.b64encode(b'\0bob\0wrong').decode()
    good = 'AUTH PLAIN ' + base64.b64encode(b'\0bob\0right').decode()
    out = []
    for _ in range(2):
        s, c = connect(port)
        c.cmd('EHLO client.test')
        out.append(c.cmd(bad) or 'EOF')
        c.cmd('QUIT')
        s.close()
    ok(all(r.startswith('535') for r in out), 'two AUTH failures in two sessions: 535', out)
    s, c = connect(port)
    c.cmd('EHLO client.test')
    s.sendall((good + '\r\n').encode())
    r1 = c.reply() or 'EOF'
    r2 = c.reply() or 'EOF'
    ok(r1.startswith('454 4.7.0 '), 'max_auth_failure_rate = 2: the next AUTH, even a right one, gets 454 4.7.0', r1)
    ok(r2.startswith('421 4.7.0 '), 'then 421 4.7.0', r2)
    s.close()
    s, c = connect(srv.ports['exempt'])
    c.cmd('EHLO client.test')
    r = c.cmd(good) or 'EOF'
    ok(r.startswith('235'), 'from an exempt client AUTH still works', r)
    s.close()


def main():
    if postern_test.missing('mkpasswd'):
        return TAP.skip_all('mkpasswd missing: apt-get install whois')
    TAP.run(parallel_loopback)
    TAP.run(connection_rate)
    TAP.run(session_rates)
    TAP.run(rcpt_rate)
    return TAP.done()


if __name__ == '__main__':
    postern_test.run_main(main)
