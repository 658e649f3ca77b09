#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# esmtp-ext.py - the newer SMTP extensions through a real client (smtplib):
#
#   - REQUIRETLS (RFC 8689): not offered before STARTTLS and refused there
#     (555 5.5.4), offered and accepted inside TLS, POSTERN_REQUIRETLS=1 to
#     the steps;
#   - LIMITS (RFC 9422): RCPTMAX is the endpoint's max_recipients; MAILMAX
#     only with max_transactions, which is then enforced (452 4.5.3);
#   - MT-PRIORITY (RFC 6710): offered, checked (501 5.5.4 for a bad value),
#     POSTERN_MT_PRIORITY=N to the steps.
#
# Prints TAP.  Starts its posternd with t/lib/postern_test.py.
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, run_main, workdir, write_script, client_context, nobody_ids, IS_ROOT  # noqa: E402

ok = TAP.ok


def ehlo_keywords(c):
    code, msg = c.ehlo('client.test')
    return code, msg.decode().split('\n')[1:]


def env_of(out, port):
    try:
        with open('%s/env.%d' % (out, port)) as f:
            return dict(l.rstrip('\n').split('=', 1) for l in f if '=' in l)
    except OSError:
        return None


def checks(srv, out):
    c = smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=10)
    code, kws = ehlo_keywords(c)
    ok(code == 250 and 'STARTTLS' in kws, 'plaintext EHLO: 250, STARTTLS offered', kws)
    ok('REQUIRETLS' not in kws, 'plaintext EHLO: REQUIRETLS not offered', kws)
    ok('LIMITS RCPTMAX=100' in kws, 'LIMITS RCPTMAX=100 (the default max_recipients), no MAILMAX', kws)
    ok('MT-PRIORITY' in kws, 'MT-PRIORITY offered', kws)
    code, msg = c.mail('alice@example.org', ['REQUIRETLS'])
    ok(code == 555 and msg.startswith(b'5.5.4') and b'STARTTLS' in msg,
       'MAIL REQUIRETLS before STARTTLS: 555 5.5.4, says to use STARTTLS', (code, msg))
    code, msg = c.mail('alice@example.org', ['MT-PRIORITY=10'])
    ok(code == 501 and msg.startswith(b'5.5.4'), 'MT-PRIORITY=10: 501 5.5.4', (code, msg))
    code, msg = c.mail('alice@example.org', ['MT-PRIORITY=+1'])
    ok(code == 501 and msg.startswith(b'5.5.4'), 'MT-PRIORITY=+1: 501 5.5.4', (code, msg))
    c.starttls(context=client_context())
    code, kws = ehlo_keywords(c)
    ok(code == 250 and 'REQUIRETLS' in kws, 'EHLO inside TLS: REQUIRETLS offered', kws)
    lp = c.sock.getsockname()[1]
    code, msg = c.mail('alice@example.org', ['REQUIRETLS', 'MT-PRIORITY=-3'])
    ok(code == 250, 'MAIL REQUIRETLS MT-PRIORITY=-3 inside TLS: 250', (code, msg))
    env = env_of(out, lp) or {}
    ok(env.get('POSTERN_REQUIRETLS') == '1' and env.get('POSTERN_MT_PRIORITY') == '-3',
       'the mail step sees POSTERN_REQUIRETLS=1 and POSTERN_MT_PRIORITY=-3', env)
    c.rset()
    code, msg = c.mail('alice@example.org')
    env = env_of(out, lp) or {}
    ok(code == 250 and 'POSTERN_REQUIRETLS' not in env and 'POSTERN_MT_PRIORITY' not in env,
       'the next transaction without them: neither variable', env)
    c.quit()

    c = smtplib.SMTP('127.0.0.1', srv.ports['lim'], timeout=10)
    code, kws = ehlo_keywords(c)
    ok('LIMITS RCPTMAX=5 MAILMAX=2' in kws, 'max_transactions = 2: LIMITS RCPTMAX=5 MAILMAX=2', kws)
    codes = []
    for i in range(2):
        codes.append(c.mail('alice@example.org')[0])
        c.rset()
    code, msg = c.mail('alice@example.org')
    ok(codes == [250, 250] and code == 452 and msg.startswith(b'4.5.3') and b'MAILMAX=2' in msg,
       'two transactions, then MAIL gets 452 4.5.3 naming MAILMAX', (codes, code, msg))
    ok(c.noop()[0] == 250, 'the session goes on (NOOP 250)')
    c.quit()


def main():
    d = workdir()
    out = os.path.join(d, 'seen')
    os.mkdir(out)
    if IS_ROOT:
        os.chown(out, *nobody_ids())
    hook = write_script(os.path.join(d, 'mail-hook'),
                        '#!/bin/sh\nenv | grep "^POSTERN_" > %s/env.$POSTERN_CLIENT_PORT\nexit 0\n' % out)
    srv = postern_test.Server(dir=d, endpoints=('smtp', 'lim'), tls=True,
                              config={'smtp': {'tls': 'starttls'}, 'hooks': {'mail': hook},
                                      'lim': {'max_transactions': 2, 'max_recipients': 5}})
    try:
        TAP.run(checks, srv, out)
    finally:
        TAP.ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    return TAP.done()


run_main(main, 'certtool')
