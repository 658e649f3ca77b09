#!/usr/bin/env python3
# milter-rspamd.py - rspamd (milter proxy mode, self_scan) as a milter step
# of posternd, end to end through smtplib: GTUBE is refused at the end of
# DATA with rspamd's own reply; a clean message is stored with the headers
# rspamd adds (X-Spamd-Result).  rspamd runs with the packaged
# configuration and a private local.d (only the proxy worker; no DNS, RBL
# or fuzzy lookups: offline).  Loading its rules takes a while.
#
# Prints TAP.  Skips when rspamd is missing.
import os
import shutil
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main  # noqa: E402
from milter_peers import start_rspamd, stop  # noqa: E402

ok, note = TAP.ok, TAP.diag
GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
MSG = ('From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: %s\r\n'
       'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n')


class Server(postern_test.Server):
    def __init__(self):
        d = postern_test.workdir()
        os.mkdir(d + '/rspamd')
        self.rspamd, port = start_rspamd(d + '/rspamd')
        conf = {
            'milter.rspamd': {'socket': 'inet:127.0.0.1:%d' % port, 'content_timeout': 120},
            'smtp': {'pipeline': 'rspamd data'},
        }
        try:
            postern_test.Server.__init__(self, config=conf, dir=d)
        except Exception:
            stop(self.rspamd)
            raise

    def stop(self, *a, **k):
        stop(self.rspamd)
        return postern_test.Server.stop(self, *a, **k)


def t_gtube_and_clean(srv):
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=120) as c:
        c.ehlo('client.example')
        c.mail('a@example.org')
        c.rcpt('b@example.net')
        code, msg = c.data((MSG % ('gtube', 'g', GTUBE)).encode())
        ok(code == 554 and msg == b'5.7.1 Gtube pattern', "GTUBE: refused with rspamd's 554 5.7.1", (code, msg))
        ok(srv.message('gtube') == '', 'and not stored')
        r = c.sendmail('a@example.org', ['b@example.net'], MSG % ('clean', 'c', 'hello, a normal message'))
        ok(r == {}, 'a clean message: 250')
    text = srv.message('clean')
    ok(any(line.startswith('X-Spamd-Result: default: False') for line in text.split('\n')),
       'stored with the X-Spamd-Result header rspamd added', text[:800])


def main():
    serve_tests(Server, ((t_gtube_and_clean,),))
    return TAP.done()


if __name__ == '__main__':
    if shutil.which('rspamd') is None:
        sys.exit(TAP.skip_all('rspamd missing: apt-get install rspamd'))
    run_main(main)
