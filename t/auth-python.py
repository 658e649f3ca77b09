#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# auth-python.py - SMTP AUTH from the client everyone scripts with:
# smtplib's login() over STARTTLS and over implicit TLS (SMTP_SSL), with
# PLAIN (its first choice), LOGIN with and without an initial response, a
# wrong password (535 5.7.8), no AUTH before STARTTLS, and the messages sent
# after login stored "with ESMTPSA".  The raw dialogues are in t/auth.t.
#
# Python 3 standard library only.  Prints TAP.  Starts its posternd with
# t/lib/postern_test.py, with postern-passwd as the auth hook.
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import BUILDDIR, TAP, run_main, serve_tests, install_program  # noqa: E402
from postern_test import client_context as context  # noqa: E402

ok, note = TAP.ok, TAP.diag

USER = 'pyuser'
PASSWORD = 'py th:on pass 42'   # smtplib encodes credentials as ASCII


class Server(postern_test.Server):
    """posternd with submission (STARTTLS) and submissions (implicit TLS),
    both auth = required, checked by postern-passwd."""

    def __init__(self):
        d = postern_test.workdir()
        hashed = subprocess.run(['mkpasswd', '-m', 'yescrypt', PASSWORD], capture_output=True,
                                text=True, timeout=30, check=True).stdout.strip()
        with open(d + '/passwd', 'w') as f:
            f.write('%s:%s\n' % (USER, hashed))
        os.chmod(d + '/passwd', 0o644)
        passwd = install_program(d, BUILDDIR + '/hooks/postern-passwd')
        postern_test.Server.__init__(
            self, dir=d, tls=True, endpoints=('submission', 'submissions'),
            config={'hooks': {'auth': '%s %s/passwd' % (passwd, d)},
                    'submission': {'tls': 'starttls', 'auth': 'required'},
                    'submissions': {'tls': 'implicit', 'auth': 'required'}})


def send(c, subject):
    return c.sendmail('%s@example.org' % USER, ['dest@example.org'],
                      ('Subject: %s\r\n\r\nbody\r\n' % subject).encode())


def starttls_session(srv):
    c = smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=10)
    c.ehlo('client.test')
    c.starttls(context=context())
    c.ehlo('client.test')
    return c


# ---------------------------------------------------------------------------

def test_starttls(srv):
    with smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=10) as c:
        c.ehlo('client.test')
        ok(c.has_extn('starttls') and not c.has_extn('auth'),
           'before STARTTLS: STARTTLS offered, AUTH not', c.esmtp_features)
        try:
            c.login(USER, PASSWORD)
            ok(False, 'login() before STARTTLS fails')
        except smtplib.SMTPNotSupportedError:
            ok(True, 'login() before STARTTLS fails: AUTH is not offered')
        c.starttls(context=context())
        code, _ = c.ehlo('client.test')
        ok(c.esmtp_features.get('auth', '').split() == ['PLAIN', 'LOGIN'],
           'after STARTTLS: AUTH PLAIN LOGIN', c.esmtp_features)
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235 and msg.startswith(b'2.7.0'), 'smtplib login() over STARTTLS (PLAIN): 235 2.7.0',
           (code, msg))
        ok(send(c, 'py starttls plain') == {}, 'message accepted after login()')
    ok(re.search(r'^\tby mx\.test \(Postern\) with ESMTPSA \(', srv.message('py starttls plain'), re.M),
       'Received says ESMTPSA', srv.message('py starttls plain')[:300])


def test_login_mechanism(srv):
    for initial in (True, False):
        what = 'with' if initial else 'without'
        with starttls_session(srv) as c:
            c.user, c.password = USER, PASSWORD
            code, msg = c.auth('LOGIN', c.auth_login, initial_response_ok=initial)
            ok(code == 235 and msg.startswith(b'2.7.0'),
               'smtplib auth(LOGIN) %s an initial response: 235 2.7.0' % what, (code, msg))
    with starttls_session(srv) as c:
        c.esmtp_features['auth'] = 'LOGIN'      # make login() choose LOGIN
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235, 'smtplib login() choosing LOGIN: 235', (code, msg))


def test_wrong_password(srv):
    with starttls_session(srv) as c:
        try:
            c.login(USER, PASSWORD + 'x')
            ok(False, 'login() with a wrong password raises SMTPAuthenticationError')
        except smtplib.SMTPAuthenticationError as e:
            ok(e.smtp_code == 535 and e.smtp_error.startswith(b'5.7.8'),
               'login() with a wrong password: 535 5.7.8', (e.smtp_code, e.smtp_error))
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235, 'then the right password: 235', (code, msg))


def test_smtp_ssl(srv):
    with smtplib.SMTP_SSL('127.0.0.1', srv.ports['submissions'], context=context(), timeout=10) as c:
        c.ehlo('client.test')
        ok(c.has_extn('auth'), 'SMTP_SSL: EHLO offers AUTH', c.esmtp_features)
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235 and msg.startswith(b'2.7.0'), 'smtplib login() over SMTP_SSL: 235 2.7.0', (code, msg))
        ok(send(c, 'py smtp_ssl') == {}, 'SMTP_SSL: message accepted after login()')
    ok(re.search(r'^\tby mx\.test \(Postern\) with ESMTPSA \(', srv.message('py smtp_ssl'), re.M),
       'SMTP_SSL: Received says ESMTPSA', srv.message('py smtp_ssl')[:300])


def test_log(srv):
    log = srv.log_text()
    ok('auth: user=%s mechanism=PLAIN result=ok' % USER in log, 'a PLAIN success is logged with the user name')
    ok('auth: user=%s mechanism=LOGIN result=ok' % USER in log, 'the LOGIN logins did use LOGIN')
    ok(PASSWORD not in log, 'the password is not in the log')


def main():
    serve_tests(Server, ((test_starttls,), (test_login_mechanism,), (test_wrong_password,),
                         (test_smtp_ssl,), (test_log,)))
    return TAP.done()


if __name__ == '__main__':
    run_main(main, 'certtool', 'mkpasswd')
