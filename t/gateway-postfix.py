#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""gateway-postfix.py - Postern in front of a private Postfix (its own
config, queue and data directories, smtpd on free loopback ports with
STARTTLS required, delivery into virtual Maildirs): postern-forward
--tls=require --tls-ca CERT --xclient as the mail/rcpt/data step, driven
by smtplib.  The message arrives once, over TLS (Postfix's Received header
and log), with the original client's HELO (XCLIENT); Postfix's RCPT
refusal reaches the client with its code; a certificate that does not
verify -> 4xx and nothing sent; a Postfix that takes 4 s to answer the
message is waited for within the step's timeout."""
import os
import re
import shutil
import time

from postern_test import TAP, Server, workdir, run_main, make_cert
from postern_gateway import gateway_config, send
from postfix_private import Postfix

MSG = b'Subject: via Postfix\r\nMessage-ID: <pf-%d@example.org>\r\n\r\n.dot\r\nbody\r\n'


def server(pf, port, *args):
    """posternd with one worker, so that its sessions share one step process
    and one kept connection to Postfix."""
    d = workdir()
    target = 'inet:127.0.0.1:%d' % pf.ports[port]
    conf = gateway_config(d, 'postern-forward', list(args) + [target], timeout=20)
    conf['server'] = {'workers': 1, 'min_spare': 0, 'max_spare': 1, 'max_workers': 1}
    return Server(dir=d, config=conf)


def t_relay(pf, cert):
    with server(pf, 'fast', '--tls=require', '--tls-ca', cert, '--xclient', '--timeout', '10') as srv:
        r = send(srv.port, 'alice@example.org', ['bob@example.org', 'nobody@example.org'], MSG % 1)
        TAP.is_(r['rcpt'][0][0], 250, 'a Postfix recipient: 250')
        TAP.ok(r['rcpt'][1][0] == 550 and r['rcpt'][1][1].startswith(b'5.1.1 <nobody@example.org>: Recipient address rejected'),
               "an unknown recipient: Postfix's 550 5.1.1 and text", r['rcpt'][1])
        TAP.is_(r['data'][0] if r['data'] else None, 250, 'the message: 250 after Postfix took it')
        got = pf.wait_delivered('bob@example.org', 1)
        time.sleep(1)   # would a duplicate arrive?  (Postfix delivers within ms)
        got = pf.delivered('bob@example.org')
        TAP.is_(len([m for m in got if b'<pf-1@' in m]), 1, 'it arrived once')
        m = got[0] if got else b''
        TAP.ok(re.search(rb'\(using TLSv1\.[23] with cipher', m) and b'with ESMTPS' in m,
               "over TLS (Postfix's Received header)", m[:800])
        TAP.ok(re.search(rb'^Received: from client\.example \(', m, re.M),
               "with the client's own HELO (XCLIENT)", m[:800])
        TAP.ok(m.endswith(b'\n.dot\nbody\n'), 'the dot line intact', m[-100:])
        TAP.ok('TLS connection established from' in pf.log(), "Postfix's log: TLS")
        r = send(srv.port, 'j\u00f6rg@example.org', ['bob@example.org'],
                 'Subject: gr\u00fc\u00dfe\r\nMessage-ID: <pf-5@example.org>\r\n\r\nb\u00f6dy\r\n'.encode(),
                 mail_options=['SMTPUTF8', 'BODY=8BITMIME'], rcpt_options=['NOTIFY=SUCCESS,FAILURE'])
        TAP.is_(r['data'][0] if r['data'] else None, 250, 'SMTPUTF8 and 8BITMIME, with DSN NOTIFY: 250')
        m = [m for m in pf.wait_delivered('bob@example.org', 2) if b'<pf-5@' in m]
        TAP.ok(m and 'Return-Path: <j\u00f6rg@example.org>'.encode() in m[0] and 'b\u00f6dy'.encode() in m[0],
               'the UTF-8 sender and the 8-bit body arrived unchanged', m[0][:300] if m else None)
        end = time.monotonic() + 15
        while 'sender delivery status notification' not in pf.log() and time.monotonic() < end:
            time.sleep(0.1)
        TAP.ok('sender delivery status notification' in pf.log(),
               'NOTIFY=SUCCESS reached Postfix: it sent the success notice')
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG % 4, helo='other.example')
        TAP.is_(r['data'][0] if r['data'] else None, 250, 'a second session (another HELO)')
        m = [m for m in pf.wait_delivered('bob@example.org', 3) if b'<pf-4@' in m]
        TAP.ok(m and re.search(rb'^Received: from other\.example \(', m[0], re.M),
               'XCLIENT again for the next client', m[0][:400] if m else None)


    # posternd stopped: the step said QUIT; Postfix logs the connection's counts
    end = time.monotonic() + 15
    while not re.search(r'disconnect from .* mail=3 rcpt=3/4 bdat=3 quit=1', pf.log()) and time.monotonic() < end:
        time.sleep(0.1)
    TAP.ok(re.search(r'disconnect from .* mail=3 rcpt=3/4 bdat=3 quit=1', pf.log()),
           'three sessions, one kept connection to Postfix (BDAT, QUIT at the end)',
           '\n'.join(l for l in pf.log().splitlines() if 'disconnect' in l))


def t_bad_cert(pf, other):
    before = len(re.findall(r': client=', pf.log()))
    with server(pf, 'fast', '--tls=require', '--tls-ca', other, '--timeout', '10') as srv:
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG % 2)
        TAP.ok(r['mail'][0] == 451 and b'4.7.5' in r['mail'][1], 'a certificate that does not verify: 451 4.7.5', r)
    time.sleep(0.5)
    TAP.is_(len(re.findall(r': client=', pf.log())), before, 'nothing was sent to Postfix (no MAIL in its log)')


def t_slow(pf, cert):
    with server(pf, 'slow', '--tls=require', '--tls-ca', cert, '--data-timeout', '15') as srv:
        t0 = time.monotonic()
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG % 3)
        took = time.monotonic() - t0
        TAP.is_(r['data'][0] if r['data'] else None, 250, "a slow 250 (Postfix sleeps 4 s) within the step's timeout")
        TAP.ok(took >= 4, 'it was waited for (%.1f s)' % took)
        TAP.is_(len([m for m in pf.wait_delivered('bob@example.org', 4) if b'<pf-3@' in m]), 1, 'and arrived once')


def main():
    d = workdir()
    cert, key = make_cert(d)
    other, _ = make_cert(d, 'other')
    pf = Postfix(os.path.join(d, 'postfix'), cert=(cert, key), users=['bob@example.org'],
                 smtpd={'fast': {}, 'slow': {'smtpd_end_of_data_restrictions': '$slow_eod'}},
                 main={'slow_eod': 'sleep 4'})
    try:
        pf.start()
    except RuntimeError as e:
        TAP.ok(False, 'start postfix', str(e))
        pf.stop()
        return TAP.done()
    try:
        TAP.run(t_relay, pf, cert)
        TAP.run(t_bad_cert, pf, other)
        TAP.run(t_slow, pf, cert)
    finally:
        pf.stop()
    return TAP.done()


if shutil.which('postfix') is None or shutil.which('certtool') is None:
    print('1..0 # SKIP postfix or certtool missing: apt-get install postfix gnutls-bin')
    raise SystemExit(0)
if os.geteuid() != 0:
    print('1..0 # SKIP a private Postfix instance needs root (its daemons run as postfix)')
    raise SystemExit(0)
run_main(main)
