#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-python.py - the milter client (worker/milter*.c) against a real
# libmilter milter: t/lib/milter_recorder.py, written with Debian's
# python3-milter, started on a free loopback port, records every event and
# macro and answers each reply kind and edit; t/milter-driver runs the
# client from a script.  Every event, macro, reply and edit is checked on
# both sides.  A raw milter in this file (a socket server) plays a version 2
# milter, a milter answering garbage, an oversized packet, one that closes
# mid-session; a closed port and a stalling milter test the failure paths
# with each default_action.
#
# Prints TAP.  Skips when python3-milter is missing.
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from postern_test import BUILDDIR, TAP, free_port, workdir  # noqa: E402
from postern_milters import Recorder, python_with_milter  # noqa: E402

ok, note = TAP.ok, TAP.diag
DRIVER = os.path.join(BUILDDIR, 't', 'milter-driver')

MACROS = """set j mx.example
set _ client.example [192.0.2.1]
set v Postern 1.0
set {daemon_name} submission
set {daemon_addr} 127.0.0.1
set {client_addr} 192.0.2.1
set {client_port} 4567
set {client_name} client.example
set {client_ptr} client.example
set {client_connections} 1
set {tls_version} TLSv1.3
set {cipher} TLS_AES_256_GCM_SHA384
set {cipher_bits} 256
set {auth_type} PLAIN
set {auth_authen} user1
set i 4ZQX1
set {mail_mailer} smtp
set {mail_host} example.org
set {mail_addr} s@example.org
set {rcpt_mailer} smtp
set {rcpt_host} example.org
set {rcpt_addr} r@example.org
"""


def drive(script, timeout=60):
    r = subprocess.run([DRIVER], input=script.encode(), capture_output=True, timeout=timeout)
    return r.stdout.decode('utf-8', 'replace')


def session(port, body, action='tempfail', timeouts='5 5 5', host='client.example'):
    return drive('open inet:127.0.0.1:%d %s %s\n%sconnect %s 4 4567 192.0.2.1\n%sclose\n'
                 % (port, action, timeouts, MACROS, host, body))


def names(evs):
    """The event names of the session just run.  The previous session's
    'close' can reach the recorder after reset(): what comes before this
    session's first 'connect' belongs to that one."""
    evs = [e['ev'] for e in evs]
    return evs[evs.index('connect'):] if 'connect' in evs else evs


MSG = """message
Received: from client.example (client.example [192.0.2.1])
	by mx.example (Postern) with ESMTP id 4ZQX1
Subject: %s
X-Gone: this goes
To: <r@example.org>

first line
second line
.
"""


def test_full_session(rec):
    rec.reset()
    out = session(rec.port, 'helo client.example\nmail <s@example.org> SIZE=100 BODY=8BITMIME\n'
                  'rcpt <del@example.org> NOTIFY=NEVER\nrcpt <keep@example.org> ORCPT=rfc822;keep@example.org\n'
                  'data\n' + MSG % 'please make edits' + 'close\n')
    evs = rec.events()
    ok(names(evs) == ['connect', 'helo', 'mail', 'rcpt', 'rcpt', 'data', 'header', 'header', 'header',
                      'header', 'eoh', 'body', 'eom', 'close'], 'every event arrives, in order', names(evs))
    ev = {e['ev']: e for e in evs}
    ok(ev['connect']['args'][:2] == ['client.example', '2'] and
       json.loads(ev['connect']['args'][2]) == ['192.0.2.1', 4567], 'CONNECT: host name, AF_INET, address, port',
       ev['connect']['args'])
    ok(ev['helo']['args'] == ['client.example'], 'HELO name')
    ok(ev['mail']['args'] == ['<s@example.org>', 'SIZE=100', 'BODY=8BITMIME'], 'MAIL with its ESMTP args',
       ev['mail']['args'])
    rcpts = [e['args'] for e in evs if e['ev'] == 'rcpt']
    ok(rcpts == [['<del@example.org>', 'NOTIFY=NEVER'], ['<keep@example.org>', 'ORCPT=rfc822;keep@example.org']],
       'RCPT with ESMTP args', rcpts)
    hdrs = [e['args'] for e in evs if e['ev'] == 'header']
    ok(hdrs[0] == ['Received', 'from client.example (client.example [192.0.2.1])\n\tby mx.example (Postern) '
                   'with ESMTP id 4ZQX1'], 'our Received: is the first header, folded with LF', hdrs[0])
    ok(hdrs[1:] == [['Subject', 'please make edits'], ['X-Gone', 'this goes'], ['To', '<r@example.org>']],
       'the other headers, leading space removed', hdrs)
    ok(ev['body']['args'][0] == '25' and ev['body']['args'][1] == 'first line\r\nsecond line\r\n',
       'the body as CR LF bytes', ev['body']['args'])
    m = ev['connect']['macros']
    ok(m == {'j': 'mx.example', '_': 'client.example [192.0.2.1]', 'v': 'Postern 1.0',
             '{daemon_name}': 'submission', '{daemon_addr}': '127.0.0.1'},
       "CONNECT macros: Postfix's milter_connect_macros exactly", m)
    m = ev['helo']['macros']
    ok(m.get('{tls_version}') == 'TLSv1.3' and m.get('{cipher}') == 'TLS_AES_256_GCM_SHA384' and
       m.get('{cipher_bits}') == '256' and '{cert_subject}' not in m, 'HELO macros: TLS ones (unset ones not sent)', m)
    m = ev['mail']['macros']
    ok(m.get('i') == '4ZQX1' and m.get('{auth_type}') == 'PLAIN' and m.get('{auth_authen}') == 'user1' and
       m.get('{mail_addr}') == 's@example.org' and m.get('{mail_host}') == 'example.org' and
       m.get('{mail_mailer}') == 'smtp' and '{rcpt_addr}' not in m and '{client_addr}' not in m,
       'MAIL macros: i, auth, mail_*; not client_addr (not in the default lists)', m)
    m = evs[3]['macros']
    ok(m.get('{rcpt_addr}') == 'r@example.org' and m.get('{rcpt_host}') == 'example.org' and
       m.get('{rcpt_mailer}') == 'smtp', 'RCPT macros: rcpt_*', m)
    ok(ev['eom']['macros'].get('i') == '4ZQX1', 'EOM macros: i')
    ok('connect pass\n' in out and 'message pass\n' in out, 'every event passes', out)
    ok('negotiated version 6 actions 0x1ff' in out, 'version 6, all actions negotiated', out)
    want = ['X-Top: top', 'Received: from client.example (client.example [192.0.2.1])',
            '\tby mx.example (Postern) with ESMTP id 4ZQX1', 'Subject: changed edits', 'To: <r@example.org>',
            'X-Added: yes', 'X-Folded: one', '\ttwo', '', 'new body', 'second part']
    got = [line[2:] for line in out.splitlines() if line.startswith('| ')]
    ok(got == want, 'edits: insert at 0 above Received:, change, delete, add, folded add, body replaced twice',
       '\n'.join(got))
    ok('quarantine held for review\n' in out, 'quarantine reason', out)
    ok('sender new@example.org SIZE=1234\n' in out, 'change sender with ESMTP args', out)
    ok('rcpt keep@example.org ORCPT=rfc822;keep@example.org\nrcpt added@example.org \n'
       'rcpt par@example.org NOTIFY=NEVER\n' in out and 'rcpt del@example.org' not in out,
       'recipients: deleted, added, added with ESMTP args', out)


def test_connect_replies(rec):
    for host, want in (('reject.example', 'connect reject 550 5.7.1 Command rejected'),
                       ('tempfail.example', 'connect tempfail 451 4.7.1 Service unavailable - try again later'),
                       ('replycode.example', 'connect reject 554 5.7.1 not you')):
        rec.reset()
        out = session(rec.port, 'helo x\nmail <s@example.org>\n', host=host)
        text = want.split(' ', 2)[2]
        ok(want + '\n' in out and 'session-reply %s\n' % text in out,
           '%s: %s, and it is the session reply' % (host, text), out)
        ok(names(rec.events()) == ['connect', 'close'], '%s: no more events for the session' % host,
           names(rec.events()))
    rec.reset()
    out = session(rec.port, 'helo x\nmail <s@example.org>\nrcpt <r@example.org>\n', host='accept.example')
    ok('session-reply' not in out and out.count(' pass\n') == 4, 'accept at CONNECT: everything passes', out)
    ok(names(rec.events()) == ['connect', 'close'], 'accept at CONNECT: the milter hears nothing more',
       names(rec.events()))


def test_envelope_replies(rec):
    rec.reset()
    out = session(rec.port, 'helo helo-reject\nhelo good\n')
    ok('helo reject 550 5.7.1 Command rejected\nhelo pass\n' in out and 'session-reply' not in out,
       'HELO reject: that command only', out)
    rec.reset()
    out = session(rec.port, 'mail <mail-reject@example.org>\nmail <s@example.org>\nrcpt <rcpt-reject@example.org>\n'
                  'rcpt <rcpt-tempfail@example.org>\nrcpt <rcpt-replycode@example.org>\nrcpt <ok@example.org>\n'
                  'data\n' + MSG % 'plain' + 'close\n')
    ok('mail reject 550 5.7.1 Command rejected\nmail pass\n' in out, 'MAIL reject, then a new MAIL', out)
    ok('rcpt reject 550 5.7.1 Command rejected\nrcpt tempfail 451 4.7.1 Service unavailable - try again later\n'
       'rcpt reject 550 5.1.1 no such user here\nrcpt pass\n' in out,
       'RCPT reject, tempfail, replycode: one recipient each, the next one passes', out)
    ok('message pass\n' in out and 'rcpt ok@example.org' in out, 'and the message goes on', out)
    rec.reset()
    out = session(rec.port, 'mail <mail-accept@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'x' +
                  'mail <s@example.org>\nrcpt <r@example.org>\n')
    ok(out.count(' pass\n') == 7, 'accept at MAIL: the message passes', out)
    evs = names(rec.events())
    ok(evs == ['connect', 'mail', 'mail', 'rcpt', 'abort', 'close'],
       'accept at MAIL: no RCPT/DATA/content for that message; ABORT before the next', evs)
    rec.reset()
    out = session(rec.port, 'mail <mail-discard@example.org>\nrcpt <r@example.org>\n')
    ok('mail discard\nrcpt pass\n' in out, 'discard at MAIL', out)
    out = session(rec.port, 'mail <s@example.org>\nrcpt <rcpt-discard@example.org>\nrcpt <r@example.org>\n')
    ok('rcpt discard\nrcpt pass\n' in out, 'discard at RCPT', out)
    out = session(rec.port, 'unknown XFOO bar\nunknown XREJECT now\n')
    ok('unknown pass\nunknown reject 550 5.7.1 Command rejected\n' in out, 'UNKNOWN: continue and reject', out)
    ok(['XFOO bar'] in [e['args'] for e in rec.events() if e['ev'] == 'unknown'], 'UNKNOWN: the command line',
       rec.events())


def test_eom_replies(rec):
    for subj, want in (('eom-reject', 'message reject 550 5.7.1 Command rejected'),
                       ('eom-tempfail', 'message tempfail 451 4.7.1 Service unavailable - try again later'),
                       ('eom-discard', 'message discard'),
                       ('eom-replycode', 'message reject 550-5.7.1 line one\r\n550 5.7.1 line two'),
                       ('header-reject', 'message reject 550 5.7.1 Command rejected')):
        out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % subj +
                      'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'again')
        ok(want + '\n' in out and out.count('message pass\n') == 1 and 'session-reply' not in out,
           '%s: %r; the next message passes' % (subj, want), out)
    rec.reset()
    t0 = time.time()
    out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'eom-progress',
                  timeouts='5 2 2')
    ok('message pass\n' in out and time.time() - t0 >= 2.5, 'PROGRESS restarts the 2 s timeout (3 s in all)', out)


def test_body(rec):
    rec.reset()
    big = 'message\nSubject: big\n\n@repeat 2000 %s\n.\n' % ('x' * 98)
    out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + big)
    sizes = [int(e['args'][0]) for e in rec.events() if e['ev'] == 'body']
    ok(sizes == [65535, 65535, 65535, 3395] and 'message pass' in out,
       'a 200000-byte body in chunks of at most 65535', sizes)
    rec.reset()
    out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' +
                  big.replace('Subject: big', 'Subject: body-skip'))
    evs = names(rec.events())
    ok(evs.count('body') == 1 and 'eom' in evs and 'message pass' in out, 'SKIP: no more body, then EOM', evs)


def test_abort(rec):
    rec.reset()
    session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\nabort\nabort\nmail <t@example.org>\n'
            'rcpt <r@example.org>\ndata\n' + MSG % 'x' + 'mail <u@example.org>\n')
    evs = names(rec.events())
    ok(evs == ['connect', 'mail', 'rcpt', 'abort', 'mail', 'rcpt', 'data', 'header', 'header', 'header',
               'header', 'eoh', 'body', 'eom', 'mail', 'abort', 'close'] or
       evs == ['connect', 'mail', 'rcpt', 'abort', 'mail', 'rcpt', 'data', 'header', 'header', 'header',
               'header', 'eoh', 'body', 'eom', 'mail', 'close'],
       'ABORT on RSET (once), none after a finished message', evs)


def test_symlist(exe, d):
    rec = Recorder(os.path.join(d, 'symlist'), 'symlist', exe)
    try:
        out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'x')
        ev = {e['ev']: e for e in rec.events()}
        ok(ev['connect']['macros'] == {'j': 'mx.example', '{client_addr}': '192.0.2.1', '{client_port}': '4567',
                                       '{client_ptr}': 'client.example', '{client_connections}': '1'},
           'SETSYMLIST replaces the CONNECT list', ev['connect']['macros'])
        ok(ev['eom']['macros'].get('{auth_type}') == 'PLAIN' and 'message pass' in out,
           'SETSYMLIST for EOM: {auth_type} sent there', ev['eom']['macros'])
    finally:
        rec.stop()


def test_noreply(exe, d):
    rec = Recorder(os.path.join(d, 'noreply'), 'noreply', exe)
    try:
        out = session(rec.port, 'helo x\nmail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'x')
        evs = names(rec.events())
        ok('helo' not in evs and 'data' not in evs, 'NOHELO, NODATA: those events are not sent', evs)
        ok(evs.count('header') == 4 and 'body' in evs and 'eom' in evs and 'message pass' in out,
           'NR_HDR, NR_BODY, NR_RCPT: events sent, no reply awaited', out)
        flags = [line for line in out.splitlines() if line.startswith('negotiated')][0]
        pflags = int(flags.split()[-1], 16)
        ok(pflags & 0x80 and pflags & 0x80000 and pflags & 0x8000 and pflags & 0x2 and pflags & 0x200,
           'NR_HDR NR_BODY NR_RCPT NOHELO NODATA negotiated', flags)
    finally:
        rec.stop()


def test_leadspc(exe, d):
    rec = Recorder(os.path.join(d, 'leadspc'), 'leadspc', exe)
    try:
        out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'edits')
        hdrs = [e['args'] for e in rec.events() if e['ev'] == 'header']
        ok(hdrs[1] == ['Subject', ' edits'], 'HDR_LEADSPC: the value with its leading space', hdrs)
        ok('| Subject:changed edits\n' in out, 'HDR_LEADSPC: a changed value is written as given', out)
    finally:
        rec.stop()


class RawMilter(threading.Thread):
    """A milter speaking raw bytes: BEHAVIOUR(cmd, data) gives the bytes to
    answer each packet with (None: close).  Records the commands."""

    def __init__(self, behaviour):
        threading.Thread.__init__(self, daemon=True)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.cmds = []
        self.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
            buf = b''
            while True:
                while len(buf) < 4 or len(buf) < 4 + struct.unpack('>I', buf[:4])[0]:
                    more = c.recv(65536)
                    if not more:
                        return
                    buf += more
                n = struct.unpack('>I', buf[:4])[0]
                cmd, data, buf = chr(buf[4]), buf[5:4 + n], buf[4 + n:]
                self.cmds.append(cmd)
                ans = self.behaviour(cmd, data)
                if ans is None:
                    c.close()
                    return
                c.sendall(ans)
        except OSError:
            pass


def pkt(c, d=b''):
    return struct.pack('>I', len(d) + 1) + c.encode() + d


def optneg(version=6, actions=0x1ff, pflags=0):
    return pkt('O', struct.pack('>III', version, actions, pflags))


def test_v2():
    def v2(cmd, data):
        if cmd == 'O':
            return optneg(2, 0x3, 0)
        if cmd in 'DAKQ':
            return b''
        if cmd == 'E':
            return pkt('h', b'X-V2\0yes\0') + pkt('c')
        return pkt('c')
    raw = RawMilter(v2)
    out = drive('open inet:127.0.0.1:%d tempfail 5 5 5\n%sconnect c 4 1 192.0.2.1\nhelo x\nmail <s@example.org>\n'
                'rcpt <r@example.org>\nunknown XFOO\ndata\n%s' % (raw.port, MACROS, MSG % 'v2'))
    raw.join(5)
    ok('negotiated version 2' in out and 'message pass' in out and '| X-V2: yes' in out,
       'a version 2 milter works; its ADDHEADER applies', out)
    ok('T' not in raw.cmds and 'U' not in raw.cmds, 'version 2: no DATA, no UNKNOWN sent', raw.cmds)


def failure(behaviour, name, action='tempfail', body='', timeouts='5 5 5', want=None):
    raw = RawMilter(behaviour)
    t0 = time.time()
    out = drive('open inet:127.0.0.1:%d %s %s\n%sconnect c 4 1 192.0.2.1\nhelo x\nmail <s@example.org>\n%s'
                % (raw.port, action, timeouts, MACROS, body))
    return out, time.time() - t0


def test_failures(rec):
    port = free_port()   # nothing listens there
    for action, want, sess in (('tempfail', 'connect tempfail failed 451 4.7.1 Service unavailable - try again later',
                                True),
                               ('reject', 'connect reject failed 550 5.7.1 Command rejected', True),
                               ('accept', 'connect pass failed', False)):
        out = drive('open inet:127.0.0.1:%d %s 5 5 5\nconnect c 4 1 192.0.2.1\nhelo x\nmail <s@example.org>\n'
                    % (port, action))
        ok(want + '\n' in out and ('session-reply' in out) == sess and 'helo pass\n' in out and 'mail pass\n' in out,
           'milter down, default_action %s: %s%s' % (action, want.split(' ', 2)[-1],
                                                    ', for the whole session' if sess else ''), out)
    t0 = time.time()
    out = session(rec.port, 'helo x\n', timeouts='5 2 5', host='stall.example')
    ok('connect tempfail failed 451 4.7.1' in out and time.time() - t0 < 6,
       'a milter stalling past command_timeout (2 s): tempfail within the timeout', (out, time.time() - t0))
    t0 = time.time()
    out = session(rec.port, 'mail <s@example.org>\nrcpt <r@example.org>\ndata\n' + MSG % 'eom-stall',
                  timeouts='5 5 2')
    ok('message tempfail failed 451 4.7.1' in out and time.time() - t0 < 6,
       'a milter stalling at end of message past content_timeout (2 s)', (out, time.time() - t0))

    def garbage(cmd, data):
        return optneg() if cmd == 'O' else (b'' if cmd == 'D' else pkt('Z'))
    out, _ = failure(garbage, 'garbage')
    ok('connect tempfail failed' in out, 'an unknown reply command: failure', out)

    def oversized(cmd, data):
        return optneg() if cmd == 'O' else (b'' if cmd == 'D' else struct.pack('>I', 0x7fffffff) + b'c')
    out, _ = failure(oversized, 'oversized')
    ok('connect tempfail failed' in out, 'a 2 GiB packet length: failure, nothing read', out)

    def closes(cmd, data):
        if cmd == 'O':
            return optneg()
        return None if cmd == 'M' else (b'' if cmd == 'D' else pkt('c'))
    out, _ = failure(closes, 'closes', action='accept')
    ok('helo pass\nmail pass failed\n' in out and 'session-reply' not in out,
       'a milter closing mid-session, default_action accept: passes from then on', out)

    def badversion(cmd, data):
        return optneg(1) if cmd == 'O' else pkt('c')
    out, _ = failure(badversion, 'version 1')
    ok('connect tempfail failed' in out, 'version 1 at negotiation: failure', out)

    def early_edit(cmd, data):
        return optneg() if cmd == 'O' else (b'' if cmd == 'D' else pkt('h', b'X\0y\0') + pkt('c'))
    out, _ = failure(early_edit, 'early edit')
    ok('connect tempfail failed' in out, 'an edit in reply to CONNECT: failure', out)

    def unnegotiated(cmd, data):
        if cmd == 'O':
            return optneg(6, 0x1, 0)
        if cmd in 'DAKQ':
            return b''
        return pkt('-', b'<r@example.org>\0') + pkt('c') if cmd == 'E' else pkt('c')
    out, _ = failure(unnegotiated, 'unnegotiated', body='rcpt <r@example.org>\ndata\n' + MSG % 'x')
    ok('message tempfail failed' in out, 'an edit it did not negotiate (DELRCPT): failure', out)

    def badcode(cmd, data):
        return optneg() if cmd == 'O' else (b'' if cmd == 'D' else pkt('y', b'250 fine\0'))
    out, _ = failure(badcode, 'bad replycode')
    ok('connect tempfail failed' in out, 'REPLYCODE 250: failure', out)


def main():
    exe = python_with_milter()
    if exe is None:
        return TAP.skip_all('python3-milter missing: apt-get install python3-milter')
    if not os.access(DRIVER, os.X_OK):
        return TAP.skip_all('no %s (make check builds it)' % DRIVER)
    d = workdir('postern-milter-')
    rec = Recorder(os.path.join(d, 'default'), 'default', exe)
    try:
        for t in (test_full_session, test_connect_replies, test_envelope_replies, test_eom_replies,
                  test_body, test_abort, test_failures):
            TAP.run(t, rec)
        TAP.run(test_symlist, exe, d)
        TAP.run(test_noreply, exe, d)
        TAP.run(test_leadspc, exe, d)
        TAP.run(test_v2)
    finally:
        rec.stop()
    return TAP.done()


if __name__ == '__main__':
    sys.exit(main())
