#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-real.py - the milter client (through t/milter-driver) against real
# milters started on free loopback ports with private configurations,
# offline:
# (each from t/lib/postern_milters.py, which says how):
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
#   rspamd in milter proxy mode (self_scan), from a private configuration:
#   only the proxy worker, no DNS, no fuzzy or RBL lookups: GTUBE refused
#   with rspamd's reply, a clean message gets X-Spamd-Result.
# Prints TAP; a test whose milter is missing skips with the package to
# install.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from postern_test import BUILDDIR, TAP, workdir  # noqa: E402
from postern_milters import (EICAR, GTUBE, ClamAV, DKIMKey, OpenDKIM, Rspamd, SpamAssassin,  # noqa: E402
                             missing)

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
    with OpenDKIM(d, DKIMKey(d + '/key'), authserv_id='mx.example.org') as dkim:
        port = dkim.port
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


def test_clamav(d):
    with ClamAV(d) as clamav:
        port = clamav.port
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'Subject: virus', '', EICAR])
        ok(re.search(r'^message reject 5\d\d .*Rejected: virus Eicar-Test-Signature(\.UNOFFICIAL)? found$', out, re.M),
           'clamav-milter: EICAR refused with its own reply text', out)
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'Subject: clean', '', 'hello'])
        ok('message pass' in out and 'X-Virus-Status: Clean' in message_of(out),
           'clamav-milter: a clean message passes with X-Virus-Status: Clean', out)


def test_spamass(d):
    with SpamAssassin(d, reject=15) as spamass:
        port = spamass.port
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: gtube', 'Message-ID: <g@example.org>',
                                     '', GTUBE], timeouts='10 30 120')
        ok('message reject 550 5.7.1 Blocked by SpamAssassin\n' in out, 'spamass-milter: GTUBE refused (550)', out)
        out = session(port, 'smtp', ['Received: from client.example', 'From: <a@example.org>',
                                     'To: <b@example.net>', 'Subject: clean', 'Message-ID: <c@example.org>',
                                     '', 'hello, this is a normal message'], timeouts='10 30 120')
        ok('message pass' in out and any(line.startswith('X-Spam-Status: No') for line in message_of(out)),
           'spamass-milter: a clean message passes with X-Spam-Status: No', out)


def test_rspamd(d):
    with Rspamd(d) as rspamd:
        port = rspamd.port
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


def main():
    if not os.access(DRIVER, os.X_OK):
        return TAP.skip_all('no %s (make check builds it)' % DRIVER)
    d = workdir('postern-milter-real-')
    for name, cls, test in (('opendkim', OpenDKIM, test_opendkim), ('clamav-milter', ClamAV, test_clamav),
                            ('spamass-milter', SpamAssassin, test_spamass), ('rspamd', Rspamd, test_rspamd)):
        why = missing(cls)
        if why:
            TAP.skip(name, why)
        else:
            TAP.run(test, os.path.join(d, cls.name))
    return TAP.done()


if __name__ == '__main__':
    sys.exit(main())
