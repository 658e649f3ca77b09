#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""forward-e2e.py - postern-forward as the mail/rcpt/data step of posternd,
driven by a real SMTP client (smtplib) against a scriptable downstream
(t/lib/fake_smtp.py): the message arrives once and the client gets 250;
a recipient refused downstream is refused to the client with the same
code; downstream down -> 451 at MAIL; a downstream that closes mid-DATA,
answers garbage or stalls -> the client gets 4xx, never 250, never a hang."""
import os
import signal
import smtplib
import time

from postern_test import TAP, Server, workdir, run_main, free_port, children
from postern_gateway import gateway_config, legacy_step_config, send, named_steps
from fake_smtp import FakeSMTP

MSG = b'Subject: e2e\r\n\r\n.dot line\r\nbody\r\n'


def server(target, *args):
    d = workdir()
    return Server(dir=d, config=gateway_config(d, 'postern-forward', list(args) + [target], timeout=15))


def t_delivery():
    ds = FakeSMTP(refuse={'nobody@example.org': '550 5.1.1 <nobody@example.org>: Recipient address rejected'})
    with server('inet:127.0.0.1:%d' % ds.port) as srv:
        r = send(srv.port, 'alice@example.org', ['bob@example.org', 'nobody@example.org'], MSG)
        TAP.is_(r['mail'][0], 250, 'MAIL accepted')
        TAP.is_(r['rcpt'][0][0], 250, 'a recipient the downstream takes: 250')
        TAP.is_(r['rcpt'][1], (550, b'5.1.1 <nobody@example.org>: Recipient address rejected'),
                "a recipient the downstream refuses: its 550 5.1.1 and text")
        TAP.is_(r['data'][0] if r['data'] else None, 250, 'the message: 250')
        TAP.is_(len(ds.messages), 1, 'it arrived downstream once')
        TAP.is_(ds.messages[0]['rcpts'] if ds.messages else None, ['bob@example.org'], 'to the accepted recipient')
        data = ds.messages[0]['data'] if ds.messages else b''
        TAP.ok(data.startswith(b'Received: ') and data.endswith(b'\r\n..dot line\r\nbody\r\n'),
               "with posternd's Received header, CR LF and the dot stuffed", data[-200:])
        r2 = send(srv.port, 'alice@example.org', ['carol@example.org'], MSG)
        TAP.is_(r2['data'][0] if r2['data'] else None, 250, 'a second session')
        TAP.is_(len(ds.messages), 2, 'two messages downstream')
        TAP.diag('named steps: %s; downstream connections: %d' % (named_steps(), ds.connections))
    ds.stop()


def t_legacy():
    """Part-1 [hooks] mail/rcpt/data, one co-process per stage: the data
    process rebuilds the transaction from its request."""
    ds = FakeSMTP()
    d = workdir()
    conf = legacy_step_config(d, 'postern-forward', ['inet:127.0.0.1:%d' % ds.port], timeout=15)
    with Server(dir=d, config=conf) as srv:
        r = send(srv.port, 'alice@example.org', ['bob@example.org', 'carol@example.org'], MSG)
        TAP.is_(r['data'][0] if r['data'] else None, 250, '[hooks] mail, rcpt and data as three co-processes: 250')
        TAP.is_([m['rcpts'] for m in ds.messages], [['bob@example.org', 'carol@example.org']],
                'the message arrived once, to both recipients')
    ds.stop()


def t_restart():
    """The step dies between RCPT and DATA: posternd starts it again and the
    new process rebuilds the transaction from the data request."""
    ds = FakeSMTP()
    with server('inet:127.0.0.1:%d' % ds.port) as srv:
        s = smtplib.SMTP('127.0.0.1', srv.port, timeout=30)
        s.ehlo()
        s.mail('alice@example.org')
        s.rcpt('bob@example.org')
        kids = [p for w in srv.worker_pids() for p in children(w) if comm(p) == 'postern-forward']
        for p in kids:
            os.kill(p, signal.SIGKILL)
        code, _ = s.data(MSG)
        s.quit()
        TAP.ok(kids, 'the step was running (%d process)' % len(kids))
        TAP.is_(code, 250, 'DATA after the step was killed: 250')
        TAP.is_([m['rcpts'] for m in ds.messages], [['bob@example.org']], 'the message arrived once, to bob')
    ds.stop()


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def t_down():
    with server('inet:127.0.0.1:%d' % free_port(), '--timeout', '3') as srv:
        t0 = time.monotonic()
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
        TAP.ok(r['mail'][0] == 451, 'downstream down: 451 at MAIL', r)
        TAP.ok(time.monotonic() - t0 < 10, 'at once')


def t_faults():
    for fault in ('close-mid-data', 'garbage', 'stall'):
        ds = FakeSMTP(fault=fault)
        with server('inet:127.0.0.1:%d' % ds.port, '--timeout', '3', '--data-timeout', '3') as srv:
            t0 = time.monotonic()
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG + (b'x' * 900 + b'\r\n') * 200, timeout=30)
            code = r['data'][0] if r['data'] else None
            TAP.ok(code is not None and 400 <= code < 500, '%s: the client gets 4xx' % fault, r)
            TAP.ok(time.monotonic() - t0 < 20, '%s: no hang' % fault)
        ds.stop()


def main():
    for t in (t_delivery, t_legacy, t_restart, t_down, t_faults):
        TAP.run(t)
    return TAP.done()


run_main(main)
