#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# limits.py - a few addresses must not hold every worker (issue 13,
# finding 2): the junk-command limit (max_junk_commands, default 100, then
# 421 4.7.0), stress mode for every session, running ones included, once
# all workers are busy (timeouts of 10 s, one junk command), and BDAT
# chunks refused without reading their octets (outside a transaction,
# beyond max_message_size): the pre-AUTH "BDAT 99999999999999999" that
# kept a worker reading until data_timeout now gets 503 and 421 at once.
#
# Python 3 standard library only.  Prints TAP.
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, Lines, Server  # noqa: E402

ok, is_, note = TAP.ok, TAP.is_, TAP.diag


def connect(srv):
    s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
    c = Lines(s)
    c.greeting = c.reply()
    return s, c


def closed(sock, timeout=5):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b''
    except OSError:
        return True


def junk_default(srv):
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    replies = [c.cmd(v) or 'EOF' for v in ['NOOP', 'RSET', 'VRFY x', 'HELP'] * 25]
    ok(all(r.startswith(('250', '252', '214')) for r in replies),
       '100 junk commands (NOOP, RSET, VRFY, HELP) are answered',
       [r for r in replies if not r.startswith(('250', '252', '214'))][:3])
    r = c.cmd('NOOP') or 'EOF'
    ok(r.startswith('421 4.7.0 '), 'the 101st gets 421 4.7.0 (max_junk_commands = 100)', r)
    ok(closed(s), 'and the connection is closed')
    s.close()


def junk_reset_by_message(srv):
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    for _ in range(60):
        c.cmd('NOOP')
    c.cmd('MAIL FROM:<a@example.org>')
    c.cmd('RCPT TO:<b@example.org>')
    c.cmd('DATA')
    r = c.cmd('Subject: junk\r\n\r\nbody\r\n.') or 'EOF'
    ok(r.startswith('250 '), 'a message after 60 NOOPs is accepted', r)
    replies = [c.cmd('NOOP') or 'EOF' for _ in range(60)]
    ok(all(r.startswith('250') for r in replies), 'an accepted message starts a fresh count of junk commands')
    c.cmd('QUIT')
    s.close()


def bdat_outside(srv):
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    t0 = time.monotonic()
    s.sendall(b'BDAT 99999999999999999\r\n')
    r1 = c.reply(20) or 'EOF'
    r2 = c.reply(20) or 'EOF'
    took = time.monotonic() - t0
    ok(r1.startswith('503 5.5.1 '), 'BDAT 99999999999999999 before MAIL: 503 5.5.1 at once', r1)
    ok(r2.startswith('421 4.7.0 '), 'then 421 4.7.0: its octets are not read', r2)
    ok(took < 5, 'within 5 s, not data_timeout (%.1f s)' % took)
    ok(closed(s), 'and the connection is closed')
    s.close()
    # the octets already arrived (pipelined): dropped, the session goes on
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    s.sendall(b'BDAT 5\r\nhelloNOOP\r\n')
    r1 = c.reply() or 'EOF'
    r2 = c.reply() or 'EOF'
    ok(r1.startswith('503 5.5.1 '), 'BDAT 5 with its octets pipelined, before MAIL: 503', r1)
    ok(r2.startswith('250 '), 'the octets are dropped and the next command is answered', r2)
    c.cmd('QUIT')
    s.close()


def bdat_too_big(srv):
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    c.cmd('MAIL FROM:<a@example.org>')
    c.cmd('RCPT TO:<b@example.org>')
    t0 = time.monotonic()
    s.sendall(b'BDAT 200000 LAST\r\n')
    r1 = c.reply(20) or 'EOF'
    r2 = c.reply(20) or 'EOF'
    took = time.monotonic() - t0
    ok(r1.startswith('552 5.3.4 '), 'BDAT past max_message_size (100000): 552 5.3.4 before any octet', r1)
    ok(r2.startswith('421 4.7.0 ') and took < 5, 'then 421 4.7.0 within 5 s (%.1f s)' % took, r2)
    s.close()
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    c.cmd('MAIL FROM:<a@example.org>')
    c.cmd('RCPT TO:<b@example.org>')
    r = c.cmd('BDAT 40\r\n' + 'x' * 38) or 'EOF'
    ok(r.startswith('250 '), 'a chunk within the limit is read', r)
    r = c.cmd('BDAT 20 LAST\r\n' + 'y' * 18) or 'EOF'
    ok(r.startswith('250 '), 'the LAST chunk: the message is accepted', r)
    c.cmd('QUIT')
    s.close()


def long_line_across_wakeups(srv):
    # the command wait wakes every 5 s to look for stress mode: an over-long
    # line that pauses longer than that is still one over-long line
    s, c = connect(srv)
    c.cmd('EHLO client.test')
    s.sendall(b'NOOP ' + b'x' * 3000)
    time.sleep(6)
    s.sendall(b'y' * 100 + b'RSET\r\nNOOP\r\n')
    r1 = c.reply() or 'EOF'
    r2 = c.reply() or 'EOF'
    ok(r1.startswith('500 5.5.2 Error: line too long'), 'a 3100-octet line with a 6 s pause inside: one 500 "line too long"', r1)
    ok(r2.startswith('250 '), 'and its tail is not read as a command: the next reply is the NOOP\'s', r2)
    c.cmd('QUIT')
    s.close()


def stress_all_sessions():
    srv = Server(config={'server': {'workers': 2, 'max_workers': 2, 'min_spare': 1, 'max_spare': 2},
                         'limits': {'command_timeout': 60}})
    with srv:
        sa, a = connect(srv)
        a.cmd('EHLO a.test')
        ta = time.monotonic()
        sb, b = connect(srv)
        ok((b.greeting or '').startswith('220'), 'the second session takes the last worker')
        b.cmd('EHLO b.test')
        ok(srv.wait_log(r'stress mode: all 2 workers are busy', count=2, timeout=10),
           'the first session, already running, enters stress mode too (log)', srv.log_text()[-2000:])
        r = b.cmd('NOOP') or 'EOF'
        ok(r.startswith('250'), 'stress: one junk command is answered', r)
        r = b.cmd('NOOP') or 'EOF'
        ok(r.startswith('421 4.7.0 '), 'stress: the second gets 421 4.7.0 (junk limit 1)', r)
        sb.close()
        r = a.reply(30) or 'EOF'
        waited = time.monotonic() - ta
        ok(r.startswith('421 4.4.2 '), 'the first session, idle, is cut with 421 4.4.2', r)
        ok(waited < 20, 'after the stress timeout (10 s from its last command), not 60 s (%.1f s)' % waited)
        sa.close()


def main():
    srv = Server(config={'limits': {'max_message_size': 100000}})
    with srv:
        for fn in (junk_default, junk_reset_by_message, bdat_outside, bdat_too_big, long_line_across_wakeups):
            TAP.run(fn, srv)
        ok(srv.wait_log(r'too many junk commands \(101, limit 100\)'), 'the junk limit is logged')
    srv = Server(config={'limits': {'max_junk_commands': 3}})
    with srv:
        s, c = connect(srv)
        replies = [c.cmd('NOOP') or 'EOF' for _ in range(4)]
        ok([r[:3] for r in replies] == ['250', '250', '250', '421'], 'max_junk_commands = 3: the 4th gets 421',
           replies)
        s.close()
    TAP.run(stress_all_sessions)
    return TAP.done()


if __name__ == '__main__':
    postern_test.run_main(main)
