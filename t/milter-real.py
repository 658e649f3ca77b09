#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-real.py - the milter client (through t/milter-driver) against real
# milters started on free loopback ports with private configurations,
# offline:
#   opendkim, with a key made by opendkim-genkey and its public half given
#   by TestPublicKeys (no DNS): a message on the endpoint named
#   "submission" ({daemon_name}) comes back with a DKIM-Signature; fed to
#   the "smtp" endpoint it verifies (Authentication-Results: dkim=pass);
#   a changed body then fails.
#   clamav-milter, with a private clamd whose whole database is one
#   signature for the EICAR test string: EICAR is refused with
#   clamav-milter's own reply text, a clean message gets its
#   X-Virus-Status header.
#   spamass-milter with a private spamd (local tests only, no DNS):
#   GTUBE refused (-r 15), a clean message gets X-Spam-Status.
#   rspamd in milter proxy mode (self_scan), with the packaged
#   configuration plus a private local.d: only the proxy worker, no DNS,
#   no fuzzy or RBL lookups: GTUBE refused with rspamd's reply, a clean
#   message gets X-Spamd-Result.
# Prints TAP; a test whose milter is missing skips with the package to
# install.
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from postern_test import BUILDDIR, TAP, free_port, workdir  # noqa: E402
from milter_peers import wait_port, start_opendkim, start_rspamd, stop  # noqa: E402

ok, note = TAP.ok, TAP.diag
DRIVER = os.path.join(BUILDDIR, 't', 'milter-driver')


def drive(script):
    r = subprocess.run([DRIVER], input=script.encode(), capture_output=True, timeout=60)
    return r.stdout.decode('utf-8', 'replace')


def message_of(out):
    """The message after the edits, as the driver prints it."""
    return [line[2:] for line in out.splitlines() if line.startswith('| ')]


def session(port, daemon_name, msg_lines, timeouts='10 10 10'):
    return drive('open inet:127.0.0.1:%d tempfail %s\nset j mx.example.org\n'
                 'set {daemon_name} %s\nset {daemon_addr} 127.0.0.1\nset _ client.example [192.0.2.1]\n'
                 'set v Postern\nconnect client.example 4 4567 192.0.2.1\nhelo client.example\nset i 4ZQX1\n'
                 'set {mail_addr} a@example.org\nmail <a@example.org>\nset {rcpt_addr} b@example.net\n'
                 'rcpt <b@example.net>\ndata\nmessage\n%s\n.\nclose\n' % (port, timeouts, daemon_name, '\n'.join(msg_lines)))


MESSAGE = ['Received: from client.example (client.example [192.0.2.1])',
           '\tby mx.example.org (Postern) with ESMTPSA id 4ZQX1',
           'From: <a@example.org>', 'To: <b@example.net>', 'Subject: dkim test',
           'Date: Sat, 05 Dec 2026 20:00:00 +0000', 'Message-ID: <1@example.org>', '',
           'hello', 'second line']


def test_opendkim(d):
    proc, port = start_opendkim(d)
    try:
        out = session(port, 'submission', MESSAGE)
        signed = message_of(out)
        rcvd = signed.index(MESSAGE[0]) if MESSAGE[0] in signed else 0
        ok('message pass' in out and rcvd > 0 and signed[0].startswith('DKIM-Signature: v=1; a=rsa-sha256;') and
           ' d=example.org; s=test;' in signed[0] and all(line[0] in ' \t' for line in signed[1:rcvd]),
           'opendkim signs on the endpoint named submission: DKIM-Signature above our Received:', out)
        out = session(port, 'smtp', signed)
        got = message_of(out)
        ar = '\n'.join(got[:3])
        ok(got and got[0] == 'Authentication-Results: mx.example.org;' and 'dkim=pass' in ar and
           'header.d=example.org' in ar, 'fed back on the smtp endpoint: Authentication-Results dkim=pass', out)
        tampered = signed[:-1] + ['second line, changed']
        out = session(port, 'smtp', tampered)
        ok('dkim=fail' in '\n'.join(message_of(out)[:3]), 'a changed body: dkim=fail', out)
        out = session(port, 'smtp', MESSAGE)
        ok('message pass' in out and 'DKIM-Signature' not in out,
           'unsigned mail on the smtp endpoint is not signed', out)
    finally:
        stop(proc)


EICAR = r'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'


def start_clamav(d):
    os.mkdir(d + '/db')
    with open(d + '/db/eicar.ndb', 'w') as f:
        f.write('Eicar-Test-Sig:0:*:%s\n' % b'EICAR-STANDARD-ANTIVIRUS-TEST-FILE'.hex())
    with open(d + '/clamd.conf', 'w') as f:
        f.write('LocalSocket %s/clamd.sock\nDatabaseDirectory %s/db\nForeground yes\nLogFile %s/clamd.log\n'
                'PidFile %s/clamd.pid\nTemporaryDirectory %s\n' % (d, d, d, d, d))
    port = free_port()
    with open(d + '/milter.conf', 'w') as f:
        f.write('MilterSocket inet:%d@127.0.0.1\nClamdSocket unix:%s/clamd.sock\nOnInfected Reject\n'
                'OnFail Defer\nAddHeader Replace\nRejectMsg Rejected: virus %%v found\nForeground yes\n'
                'PidFile %s/milter.pid\nLogFile %s/milter.log\nTemporaryDirectory %s\n' % (port, d, d, d, d))
    clamd = subprocess.Popen(['clamd', '-c', d + '/clamd.conf'], stdout=subprocess.DEVNULL,
                             stderr=open(d + '/clamd.err', 'w'))
    end = time.time() + 60
    while not os.path.exists(d + '/clamd.sock') and time.time() < end and clamd.poll() is None:
        time.sleep(0.1)
    milter = subprocess.Popen(['clamav-milter', '-c', d + '/milter.conf'], stdout=subprocess.DEVNULL,
                              stderr=open(d + '/milter.err', 'w'))
    if not wait_port(port, milter):
        for p in (clamd, milter):
            p.kill()
        raise RuntimeError('clamd/clamav-milter did not start: ' + open(d + '/clamd.err').read() +
                           open(d + '/milter.err').read())
    return (clamd, milter), port


def test_clamav(d):
    procs, port = start_clamav(d)
    try:
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'Subject: virus', '', EICAR])
        ok(re.search(r'^message reject 5\d\d .*Rejected: virus Eicar-Test-Sig(\.UNOFFICIAL)? found$', out, re.M),
           'clamav-milter: EICAR refused with its own reply text', out)
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'Subject: clean', '', 'hello'])
        ok('message pass' in out and 'X-Virus-Status: Clean' in message_of(out),
           'clamav-milter: a clean message passes with X-Virus-Status: Clean', out)
    finally:
        for p in reversed(procs):
            stop(p)


GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'


def start_spamass(d):
    spamd_port, port = free_port(), free_port()
    spamd = subprocess.Popen(['spamd', '-L', '-x', '-i', '127.0.0.1:%d' % spamd_port, '-A', '127.0.0.1',
                              '--pidfile', d + '/spamd.pid', '-s', 'stderr', '--max-children', '1']
                             + (['-u', 'nobody'] if os.geteuid() == 0 else []),
                             stdout=subprocess.DEVNULL, stderr=open(d + '/spamd.err', 'w'))
    if not wait_port(spamd_port, spamd, timeout=60):
        spamd.kill()
        raise RuntimeError('spamd did not start: ' + open(d + '/spamd.err').read()[-2000:])
    milter = subprocess.Popen(['spamass-milter', '-p', 'inet:%d@127.0.0.1' % port, '-r', '15',
                               '--', '-d', '127.0.0.1', '-p', str(spamd_port)],
                              stdout=subprocess.DEVNULL, stderr=open(d + '/milter.err', 'w'))
    if not wait_port(port, milter):
        for p in (spamd, milter):
            p.kill()
        raise RuntimeError('spamass-milter did not start: ' + open(d + '/milter.err').read())
    return (spamd, milter), port


def test_spamass(d):
    procs, port = start_spamass(d)
    try:
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: gtube', 'Message-ID: <g@example.org>',
                                     '', GTUBE], timeouts='10 30 120')
        ok('message reject 550 5.7.1 Blocked by SpamAssassin\n' in out, 'spamass-milter: GTUBE refused (550)', out)
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: clean', 'Message-ID: <c@example.org>',
                                     '', 'hello, this is a normal message'], timeouts='10 30 120')
        ok('message pass' in out and any(line.startswith('X-Spam-Status: No') for line in message_of(out)),
           'spamass-milter: a clean message passes with X-Spam-Status: No', out)
    finally:
        for p in reversed(procs):
            stop(p)


def test_rspamd(d):
    proc, port = start_rspamd(d)
    try:
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: gtube', 'Message-ID: <g@example.org>',
                                     '', GTUBE], timeouts='10 30 120')
        ok('message reject 554 5.7.1 Gtube pattern\n' in out, "rspamd: GTUBE refused with rspamd's reply", out)
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: clean', 'Message-ID: <c@example.org>',
                                     'Date: Sat, 05 Dec 2026 20:00:00 +0000', '', 'hello, this is a normal message'],
                      timeouts='10 30 120')
        ok('message pass' in out and any(line.startswith('X-Spamd-Result: default: False') for line in message_of(out)),
           'rspamd: a clean message passes with X-Spamd-Result', out)
        m = re.search(r'^negotiated version 6 .*pflags (0x[0-9a-f]+)$', out, re.M)
        nr = 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x80   # NR_CONN HELO MAIL RCPT DATA HDR
        ok(m and int(m.group(1), 16) & nr == nr, 'rspamd negotiates the NR_* flags (no replies awaited for them)',
           out)
    finally:
        stop(proc)


def main():
    if not os.access(DRIVER, os.X_OK):
        return TAP.skip_all('no %s (make check builds it)' % DRIVER)
    d = workdir('postern-milter-real-')
    if shutil.which('opendkim') is None or shutil.which('opendkim-genkey') is None:
        TAP.skip('opendkim', 'opendkim missing: apt-get install opendkim opendkim-tools')
    else:
        os.mkdir(d + '/opendkim')
        TAP.run(test_opendkim, d + '/opendkim')
    if shutil.which('clamd') is None or shutil.which('clamav-milter') is None:
        TAP.skip('clamav-milter', 'clamav-milter missing: apt-get install clamav-milter clamav-daemon')
    else:
        os.mkdir(d + '/clamav')
        TAP.run(test_clamav, d + '/clamav')
    if shutil.which('spamd') is None or shutil.which('spamass-milter') is None:
        TAP.skip('spamass-milter', 'spamass-milter missing: apt-get install spamass-milter spamd')
    else:
        os.mkdir(d + '/spamass')
        TAP.run(test_spamass, d + '/spamass')
    if shutil.which('rspamd') is None:
        TAP.skip('rspamd', 'rspamd missing: apt-get install rspamd')
    else:
        os.mkdir(d + '/rspamd')
        TAP.run(test_rspamd, d + '/rspamd')
    return TAP.done()


if __name__ == '__main__':
    sys.exit(main())
