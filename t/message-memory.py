#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# message-memory.py - a message of up to 64 KiB is kept in memory and sent
# to persistent steps from there; it is written to the spool file only when
# an exec step needs a file, or when it grows past 64 KiB with the headers
# steps add.  Whatever the path, every step sees the same bytes: two
# persistent steps keep what they were sent (the second sees the header the
# first added), an exec step keeps its stdin, for messages of 1 KiB, just
# under 64 KiB (that cross the limit with a step's header), and 200 KiB;
# our Authentication-Results fields are removed from a message in memory;
# a milter (the python3-milter recorder) reads a message in memory, with the
# header a step before it added, and its new body reaches the next step;
# a persistent step with attributes = gets only those (and the four the
# protocol needs); with the spool directory full, a small message for
# persistent steps is still taken and one for an exec step gets 451.
import json
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from postern_test import TAP, Server, free_port, nobody_ids, workdir, write_script, run_main  # noqa: E402
from postern_milters import Recorder, python_with_milter  # noqa: E402

ok, is_ = TAP.ok, TAP.is_

# A persistent data step that writes each message it is sent to
# DIR/NAME-<instance>, and adds a header of PAD octets.
KEEP_STEP = r'''#!/usr/bin/python3
import sys
inp, out = sys.stdin.buffer, sys.stdout
while True:
    attrs = {}
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        line = line.rstrip(b'\n')
        if not line:
            break
        k, _, v = line.partition(b'=')
        attrs.setdefault(k.decode(), v.decode('latin-1'))
    a = 'DUNNO'
    if attrs.get('request') == 'postern_data':
        body = inp.read(int(attrs['size']))
        with open('%(dir)s/%(name)s-' + attrs['instance'], 'wb') as f:
            f.write(body)
        if %(pad)d:
            a = 'PREPEND X-%(name)s: ' + 'p' * %(pad)d
        sys.stderr.write('%(name)s: %%d octets for %%s\n' %% (len(body), attrs['instance']))
        sys.stderr.flush()
    out.write('action=%%s\n\n' %% a)
    out.flush()
'''

# A persistent step that records the attribute names of each request.
NAMES_STEP = r'''#!/usr/bin/python3
import sys
inp, out = sys.stdin.buffer, sys.stdout
while True:
    names, a = [], {}
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        if line == b'\n':
            break
        k, _, v = line.rstrip(b'\n').partition(b'=')
        names.append(k.decode())
        a[k] = v
    if a.get(b'request') == b'postern_data':
        inp.read(int(a[b'size']))
    with open('%(dir)s/names.log', 'a') as f:
        f.write(' '.join(names) + '\n')
    out.write('action=OK\n\n')
    out.flush()
'''

EXEC_STEP = '#!/bin/sh\ncat > "%(dir)s/exec-$POSTERN_SESSION-$POSTERN_RCPT_COUNT-$$"\nexit 0\n'


def setup():
    d = workdir()
    os.chmod(d, 0o777)
    rec = Recorder(d + '/recorder') if python_with_milter() else None
    rec_socket = rec.socket if rec is not None else 'inet:127.0.0.1:%d' % free_port()
    conf = {
        'hooks': {'data': None},
        'hook.keep1': {'stage': 'data', 'persistent': 'yes', 'timeout': 10,
                       'command': write_script(d + '/keep1', KEEP_STEP % {'dir': d, 'name': 'keep1', 'pad': 900})},
        'hook.keep2': {'stage': 'data', 'persistent': 'yes', 'timeout': 10,
                       'command': write_script(d + '/keep2', KEEP_STEP % {'dir': d, 'name': 'keep2', 'pad': 0})},
        'hook.exec': {'stage': 'data', 'command': write_script(d + '/exec', EXEC_STEP % {'dir': d})},
        'hook.names': {'stage': 'rcpt data', 'persistent': 'yes', 'timeout': 10,
                       'attributes': 'sender, recipient postern_client_addr',
                       'command': write_script(d + '/names', NAMES_STEP % {'dir': d})},
        'milter.rec': {'socket': rec_socket, 'command_timeout': 10, 'content_timeout': 10},
        'smtp': {'pipeline': 'keep1 keep2'},
        'mixed': {'pipeline': 'keep1 exec'},
        'milt': {'pipeline': 'keep1 rec keep2'},
        'short': {'pipeline': 'names keep2'},
    }
    srv = Server(config=conf, dir=d, endpoints=('smtp', 'mixed', 'milt', 'short'))
    srv.rec = rec
    return srv


def kept(d, prefix):
    """The files a step wrote, oldest first."""
    names = [os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefix)]
    out = []
    for p in sorted(names, key=os.path.getmtime):
        with open(p, 'rb') as f:
            out.append(f.read())
    return out


def message(subject, lines):
    """A message of LINES lines of 76 octets."""
    head = 'From: s@example.org\r\nSubject: %s\r\n' \
           'Authentication-Results: mx.test; spf=pass (forged)\r\n\r\n' % subject
    return head + ('x' * 76 + '\r\n') * lines


def send(port, subject, lines):
    text = message(subject, lines)
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as c:
        c.sendmail('s@example.org', ['r@example.org'], text)
    return text.encode()


def t_persistent_only(srv):
    d = srv.dir
    # 1 KiB; about 65,100 octets as spooled (in memory: the limit is
    # 65,536), past the limit once keep1's header of 911 is in; 200 KiB: in
    # the file from the start
    cases = [('small', 12), ('near-limit', None), ('large', 2600)]
    for subject, lines in cases:
        if lines is None:
            # the size of a line and of what is not body, as spooled
            m1 = kept(d, 'keep1-')[-1]
            eol = 2 if b'\r\n' in m1 else 1
            fixed = len(m1) - 12 * (76 + eol)
            lines = (65100 - fixed) // (76 + eol)
        before1, before2 = len(kept(d, 'keep1-')), len(kept(d, 'keep2-'))
        sent = send(srv.ports['smtp'], subject, lines)
        k1, k2 = kept(d, 'keep1-'), kept(d, 'keep2-')
        if not ok(len(k1) == before1 + 1 and len(k2) == before2 + 1, '%s: both steps got it' % subject):
            continue
        m1, m2 = k1[-1], k2[-1]
        ok(m1.startswith(b'Received: from '), '%s: the first step sees our Received: first' % subject)
        body = sent.split(b'\r\n\r\n', 1)[1]
        ok(m1.replace(b'\r\n', b'\n').endswith(body.replace(b'\r\n', b'\n')),
           '%s: and the message as sent' % subject)
        ok(b'(forged)' not in m1, '%s: without our forged Authentication-Results' % subject)
        nl = b'\r\n' if b'\r\n' in m1 else b'\n'
        is_(m2, b'X-keep1: ' + b'p' * 900 + nl + m1,
            '%s: the second step gets the first one\'s header, then the same bytes' % subject)
        inst = m1.split(b' id ', 1)[1].split(b';', 1)[0].split()[0].decode() if b' id ' in m1 else '?'
        sp = r'(?: |\\x20)'      # the log escapes spaces in a hook's stderr
        ok(srv.wait_log(r'keep2:%s%d%soctets%sfor%s%s' % (sp, len(m2), sp, sp, sp, re.escape(inst))),
           '%s: what the step wrote to stderr before its answer is logged' % subject)
        if subject == 'near-limit':
            ok(64625 < len(m1) <= 65536 < len(m2), 'near-limit: in memory, then past the limit (%d, %d)'
               % (len(m1), len(m2)))


def t_exec_after_persistent(srv):
    d = srv.dir
    for subject, lines in (('mixed-small', 12), ('mixed-large', 1300)):
        before = len(kept(d, 'exec-'))
        send(srv.ports['mixed'], subject, lines)
        k1, ke = kept(d, 'keep1-'), kept(d, 'exec-')
        if not ok(len(ke) == before + 1, '%s: the exec step ran' % subject):
            continue
        nl = b'\r\n' if b'\r\n' in k1[-1] else b'\n'
        is_(ke[-1], b'X-keep1: ' + b'p' * 900 + nl + k1[-1],
            '%s: its stdin (a file) holds what the persistent step was sent, with its header' % subject)


def t_milter_from_memory(srv):
    if srv.rec is None:
        TAP.skip('a milter reads the message from memory', 'python3-milter missing: apt-get install python3-milter')
        return
    d = srv.dir
    for subject, want_body in (('via-milter', None), ('milter edits', b'new body\nsecond part\n')):
        srv.rec.reset()
        send(srv.ports['milt'], subject, 12)
        evs = srv.rec.events('eom')
        m1, m2 = kept(d, 'keep1-')[-1], kept(d, 'keep2-')[-1]
        hdrs = [e['args'] for e in evs if e['ev'] == 'header']
        ok(any('X-keep1' in json.dumps(h) and 'p' * 900 in json.dumps(h) for h in hdrs),
           '%s: the milter sees the header the step before it added (in memory)' % subject)
        body = m1.split(b'\n\n', 1)[1] if b'\r\n' not in m1 else m1.split(b'\r\n\r\n', 1)[1]
        got = sum(int(e['args'][0]) for e in evs if e['ev'] == 'body')
        is_(got, len(body.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')),
            '%s: and the whole body, in CR LF' % subject)
        if want_body is None:
            nl = b'\r\n' if b'\r\n' in m1 else b'\n'
            is_(m2, b'X-keep1: ' + b'p' * 900 + nl + m1, '%s: the next step gets the same bytes' % subject)
        else:
            ok(m2.replace(b'\r\n', b'\n').endswith(b'\n\n' + want_body),
               '%s: the next step gets the milter\'s new body' % subject)


def t_attributes(srv):
    """attributes = (opt-in): a persistent step gets only the attributes it
    names, and the four the protocol needs; the message still follows."""
    before = len(kept(srv.dir, 'keep2-'))
    send(srv.ports['short'], 'short-request', 12)
    with open(srv.dir + '/names.log') as f:
        lines = f.read().splitlines()
    is_(lines, ['request protocol_state sender recipient instance size postern_client_addr',
                'request protocol_state sender recipient instance size postern_client_addr'],
        'attributes = sender, recipient postern_client_addr: those, in the usual order, at RCPT and DATA')
    is_(len(kept(srv.dir, 'keep2-')), before + 1, 'and the message went on to the next step')


def t_spool_full():
    """A full spool directory: a small message for persistent steps needs
    no disk and is taken; one for an exec step is refused with 451, never
    taken."""
    d = workdir()
    os.chmod(d, 0o777)
    mnt = os.path.join(d, 'spool')
    os.mkdir(mnt, 0o755)
    uid, gid = nobody_ids()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0777,uid=%d,gid=%d' % (uid, gid), 'tmpfs', mnt],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 0:
        TAP.skip('a full spool directory', 'cannot mount a tmpfs: %s' % r.stderr.decode().strip())
        return
    srv = None
    try:
        with open(os.path.join(mnt, 'filler'), 'wb') as f:
            try:
                f.write(b'x' * (1 << 20))
            except OSError:
                pass            # full: that is the point
        conf = {
            'server': {'spool_directory': mnt},
            'hooks': {'data': None},
            'hook.keep2': {'stage': 'data', 'persistent': 'yes', 'timeout': 10,
                           'command': write_script(d + '/keep2', KEEP_STEP % {'dir': d, 'name': 'keep2', 'pad': 0})},
            'hook.exec': {'stage': 'data', 'command': write_script(d + '/exec', EXEC_STEP % {'dir': d})},
            'smtp': {'pipeline': 'keep2'},
            'mixed': {'pipeline': 'keep2 exec'},
        }
        srv = Server(config=conf, dir=d, endpoints=('smtp', 'mixed'))
        try:
            send(srv.ports['smtp'], 'full-persistent', 12)
            code = 250
        except smtplib.SMTPException as e:
            code = getattr(e, 'smtp_code', repr(e))
        is_(code, 250, 'spool directory full: a 1 KiB message for persistent steps only is taken (memory)')
        try:
            send(srv.ports['mixed'], 'full-exec', 12)
            code, msg = 250, b''
        except smtplib.SMTPDataError as e:
            code, msg = e.smtp_code, e.smtp_error
        ok(code == 451 and b'local error' in msg, 'the same for an exec step: 451, the message written nowhere',
           (code, msg))
        ok(srv.wait_log(r'cannot write the message to the spool file'), 'and the log says why')
        ok(not any(f.startswith('exec-') for f in os.listdir(d)), 'the exec step did not run')
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM (full spool)')
        subprocess.run(['umount', '-l', mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)


def main():
    srv = None
    try:
        srv = setup()
        for fn in (t_persistent_only, t_exec_after_persistent, t_milter_from_memory, t_attributes):
            TAP.run(fn, srv)
    except Exception as e:  # noqa: BLE001
        ok(False, 'start posternd', repr(e))
    finally:
        if srv is not None:
            if srv.rec is not None:
                srv.rec.stop()
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    TAP.run(t_spool_full)
    return TAP.done()


run_main(main)
