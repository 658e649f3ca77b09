#!/usr/bin/env python3
# milter-dkim.py - opendkim as a milter step of posternd, end to end with
# its stock sign-or-verify logic: mail sent to the endpoint named
# "submission" ({daemon_name}, opendkim's MTA list) is stored with a
# DKIM-Signature above our Received:; the stored message sent again to the
# "smtp" endpoint is stored with opendkim's "Authentication-Results: mx.test;
# dkim=pass" (our authserv_id, added by a step, so kept).  The key is made
# by opendkim-genkey and its public half given by TestPublicKeys: no DNS.
#
# Prints TAP.  Skips when opendkim is missing.
import os
import shutil
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main  # noqa: E402
from milter_peers import start_opendkim, stop  # noqa: E402

ok, note = TAP.ok, TAP.diag

MSG = ('From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: dkim e2e\r\n'
       'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <e2e@example.org>\r\n\r\nhello\r\nsecond line\r\n')


class Server(postern_test.Server):
    def __init__(self):
        d = postern_test.workdir()
        os.mkdir(d + '/opendkim')
        self.dkim, port = start_opendkim(d + '/opendkim', internal='192.0.2.250', authserv_id='mx.test')
        conf = {
            'milter.opendkim': {'socket': 'inet:127.0.0.1:%d' % port},
            'smtp': {'pipeline': 'opendkim data'},
            'submission': {'pipeline': 'opendkim data'},
        }
        try:
            postern_test.Server.__init__(self, config=conf, dir=d, endpoints=('smtp', 'submission'))
        except Exception:
            stop(self.dkim)
            raise

    def stop(self, *a, **k):
        stop(self.dkim)
        return postern_test.Server.stop(self, *a, **k)


def newest(srv, before):
    new = [p for p in srv.messages() if p not in before]
    if len(new) != 1:
        return ''
    with open(new[0], 'rb') as f:
        return f.read().decode('latin-1')


def t_sign_verify(srv):
    before = srv.messages()
    with smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=30) as c:
        ok(c.sendmail('a@example.org', ['b@example.net'], MSG) == {}, 'submission: 250')
    signed = newest(srv, before)
    lines = signed.split('\n')
    ok(lines[0].startswith('DKIM-Signature: v=1; a=rsa-sha256;') and 'd=example.org' in signed and
       any(line.startswith('Received: from ') for line in lines[1:12]),
       'stored from the submission endpoint: DKIM-Signature at the top, above our Received:', signed[:600])
    before = srv.messages()
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=30) as c:
        ok(c.sendmail('a@example.org', ['b@example.net'], signed.replace('\n', '\r\n')) == {},
           'the signed message sent to the smtp endpoint: 250')
    verified = newest(srv, before)
    head = verified.split('\n\n')[0]
    ok(head.startswith('Authentication-Results: mx.test;') and 'dkim=pass' in head.split('DKIM-Signature')[0],
       'stored from the smtp endpoint: Authentication-Results: mx.test; dkim=pass', head[:600])
    ok(head.count('DKIM-Signature:') == 1, 'and it was not signed a second time', head.count('DKIM-Signature:'))


def main():
    serve_tests(Server, ((t_sign_verify,),))
    return TAP.done()


if __name__ == '__main__':
    if shutil.which('opendkim') is None or shutil.which('opendkim-genkey') is None:
        sys.exit(TAP.skip_all('opendkim missing: apt-get install opendkim opendkim-tools'))
    run_main(main)
