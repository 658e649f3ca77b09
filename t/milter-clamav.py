#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-clamav.py - clamav-milter in front of a private clamd as a step of
# posternd's pipeline, end to end through smtplib, postern-maildir as the
# store: the EICAR test string, plain in the body and as a base64 MIME
# attachment, is refused at the end of DATA with clamav-milter's own reply
# (550 5.7.1 Rejected: virus Eicar-Test-Signature.UNOFFICIAL found) and not
# stored; a clean message is stored with clamav-milter's X-Virus-Status:
# Clean; with clamd stopped, clamav-milter's tempfail (OnFail Defer) is a
# 451 for that message and the session goes on.
#
# Offline: clamd's whole database is one signature for EICAR written by the
# test (t/lib/postern_milters.py), no freshclam.  Prints TAP; skips when
# clamd or clamav-milter is not installed.
import base64
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main, workdir  # noqa: E402
from postern_milters import EICAR, ClamAV, missing  # noqa: E402

ok, note = TAP.ok, TAP.diag

HEAD = ('From: <s@example.org>\r\nTo: <r@example.org>\r\nSubject: %s\r\n'
        'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n')
REJECT = r'5\.7\.1 Rejected: virus Eicar-Test-Signature(\.UNOFFICIAL)? found'


class Server(postern_test.Server):
    def __init__(self):
        d = workdir()
        t0 = time.monotonic()
        self.clamav = ClamAV(d + '/clamav')
        note('clamd and clamav-milter listening after %.1f s' % (time.monotonic() - t0))
        conf = {'milter.clamav': {'socket': self.clamav.socket, 'content_timeout': 60},
                'smtp': {'pipeline': 'clamav data'}}
        try:
            postern_test.Server.__init__(self, config=conf, dir=d)
        except Exception:
            self.clamav.stop()
            raise

    def stop(self, *a, **k):
        st = postern_test.Server.stop(self, *a, **k)
        self.clamav.stop()
        return st


def attachment(subject):
    b64 = base64.encodebytes(EICAR.encode()).decode().replace('\n', '\r\n')
    return (HEAD % (subject, 'a1') + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            '--b1\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n'
            '--b1\r\nContent-Type: application/octet-stream; name="test.com"\r\n'
            'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="test.com"\r\n\r\n'
            + b64 + '--b1--\r\n')


def t_eicar(srv):
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=60) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        c.rcpt('r@example.org')
        code, msg = c.data((HEAD % ('plain eicar', 'e1') + '\r\n' + EICAR + '\r\n').encode())
        ok(code == 550 and re.fullmatch(REJECT.encode(), msg),
           "EICAR in the body: refused with clamav-milter's own reply", (code, msg))
        c.rset()
        c.mail('s@example.org')
        c.rcpt('r@example.org')
        code, msg = c.data(attachment('attached eicar').encode())
        ok(code == 550 and re.fullmatch(REJECT.encode(), msg), 'EICAR as a base64 attachment: refused', (code, msg))
        ok(not srv.messages(), 'neither is stored')
        c.rset()
        r = c.sendmail('s@example.org', ['r@example.org'], HEAD % ('clean', 'c1') + '\r\nHello Bob.\r\n')
        ok(r == {}, 'a clean message in the same session: 250', r)
    text = srv.message('clean')
    head = text.split('\n\n', 1)[0]
    ok(re.search(r'^X-Virus-Status: Clean$', head, re.M) and re.search(r'^X-Virus-Scanned: clamav-milter ', head, re.M),
       'stored with X-Virus-Scanned and X-Virus-Status: Clean', text)
    ok(text.endswith('\n\nHello Bob.\n'), 'the body is unchanged', text[-100:])
    ok(srv.wait_log(r'milter clamav: 550 %s$' % REJECT, 5), "the refusal is logged with the milter's name")
    fail = re.search(r'^.*milter clamav (\(|: edit|: cannot).*$', srv.log_text(), re.M)
    ok(not fail, 'no failure of the milter logged', fail and fail.group(0))
    with open(srv.clamav.path('clamd.log'), errors='replace') as f:
        log = f.read()
    ok(len(re.findall(r'Eicar-Test-Signature(\.UNOFFICIAL)? FOUND', log)) == 2,
       "clamd found it twice, with the test's one-signature database", log[-1500:])


def t_clamd_down(srv):
    clamd = srv.clamav.procs[0]
    clamd.terminate()
    clamd.wait(30)
    n = len(srv.messages())
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=60) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        c.rcpt('r@example.org')
        code, msg = c.data((HEAD % ('clamd down', 'd1') + '\r\nHello Bob.\r\n').encode())
        ok(code == 451 and msg == b'4.7.1 Service unavailable - try again later',
           'clamd stopped: clamav-milter answers tempfail (OnFail Defer): 451 4.7.1', (code, msg))
        ok(len(srv.messages()) == n, 'and is not stored')
        c.rset()
        code, msg = c.mail('s@example.org')
        ok(code == 250, 'the session goes on (the milter failed the message, not the session)', (code, msg))


def main():
    serve_tests(Server, ((t_eicar,), (t_clamd_down,)))
    return TAP.done()


if __name__ == '__main__':
    why = missing(ClamAV)
    if why:
        sys.exit(TAP.skip_all(why))
    run_main(main)
