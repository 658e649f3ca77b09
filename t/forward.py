#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""forward.py - postern-forward spoken to directly in the policy protocol
(as posternd does for a persistent step of stages mail rcpt data), against
a scriptable downstream (t/lib/fake_smtp.py): RCPT refusals passed through
with their codes, dot-stuffing and CR LF, connection reuse with RSET, a
fresh process that sees only the data request, LMTP per-recipient results,
unsupported extensions refused, and the faults (downstream down, closing
mid-DATA, garbage, stalling): always a 4xx, never OK, never a hang."""
import os
import re
import select
import subprocess
import sys
import time

from postern_test import TAP, BUILDDIR, SANITIZER_RE, free_port
from fake_smtp import FakeSMTP
from sockopt import tcp_nodelay

PROG = os.path.join(BUILDDIR, 'hooks', 'postern-forward')


class Step:
    """postern-forward as posternd runs it: POSTERN_PERSISTENT=1, requests
    on stdin, answers on stdout."""

    def __init__(self, *args):
        self.p = subprocess.Popen([PROG] + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={'POSTERN_PERSISTENT': '1', 'PATH': '/usr/bin:/bin'})
        self.n = 0

    def ask(self, attrs, body=None, timeout=20):
        """Send one request; the answer as {name: [values]} (None on EOF/timeout)."""
        req = ''.join('%s=%s\n' % kv for kv in attrs) + '\n'
        data = req.encode() + (body or b'')
        self.p.stdin.write(data)
        self.p.stdin.flush()
        out, end = b'', time.monotonic() + timeout
        while not out.endswith(b'\n\n'):
            r, _, _ = select.select([self.p.stdout], [], [], max(0, end - time.monotonic()))
            if not r:
                return None
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                return None
            out += chunk
        ans = {}
        for line in out.decode().splitlines():
            if '=' in line:
                k, v = line.split('=', 1)
                ans.setdefault(k, []).append(v)
        return ans

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        err = self.p.stderr.read().decode('latin-1')
        if re.search(SANITIZER_RE, err):    # a sanitizer build: its report fails the run
            TAP.ok(False, 'postern-forward without a sanitizer report', err[-3000:])
        return err


def req(state, instance, sender='alice@example.org', rcpt='', rcpts=(), **extra):
    a = [('request', 'postern_data' if state == 'DATA' else 'smtpd_access_policy'),
         ('protocol_state', 'END-OF-MESSAGE' if state == 'DATA' else state),
         ('instance', instance), ('sender', sender), ('recipient', rcpt),
         ('client_address', '192.0.2.7'), ('client_port', '4321'), ('helo_name', 'client.example')]
    a += [(k, v) for k, v in extra.items()]
    a += [('postern_rcpt_list', r) for r in rcpts]
    return a


def action(ans):
    return ans['action'][-1] if ans and 'action' in ans else None


def transaction(step, inst, rcpts, body, **extra):
    """MAIL, each RCPT, data: the answers (list)."""
    answers = [action(step.ask(req('MAIL', inst, **extra)))]
    taken = []
    for r in rcpts:
        a = action(step.ask(req('RCPT', inst, rcpt=r, rcpts=taken, **extra)))
        answers.append(a)
        if a == 'OK':
            taken.append(r)
    d = step.ask(req('DATA', inst, rcpts=taken, size=str(len(body)), **extra), body)
    answers.append(action(d))
    return answers, d


MSG = b'Received: from client\nSubject: t\n\n.leading dot\nline\r\n..two\nlast line without end'
WIRE = b'Received: from client\r\nSubject: t\r\n\r\n..leading dot\r\nline\r\n...two\r\nlast line without end\r\n'


def t_smtp_basic():
    ds = FakeSMTP(refuse={'nobody@example.org': '550 5.1.1 <nobody@example.org>: User unknown',
                          'later@example.org': '421 4.3.2 Service shutting down'})
    st = Step('inet:127.0.0.1:%d' % ds.port)
    answers, _ = transaction(st, 'S1.1', ['bob@example.org', 'nobody@example.org'], MSG)
    TAP.is_(answers[0], 'OK', 'MAIL accepted downstream')
    TAP.is_(answers[1], 'OK', 'RCPT accepted downstream')
    TAP.is_(answers[2], '550 5.1.1 <nobody@example.org>: User unknown',
            "RCPT refusal passed through with the downstream's code and enhanced code")
    TAP.is_(answers[3], 'OK', 'data: OK after the downstream 250')
    TAP.is_(len(ds.messages), 1, 'one message arrived')
    m = ds.messages[0] if ds.messages else {'data': b'', 'rcpts': [], 'mail': ''}
    TAP.is_(m['data'], WIRE, 'CR LF line ends and dot-stuffing on the wire (unstuffed by the server)')
    TAP.is_(m['rcpts'], ['bob@example.org'], 'only the accepted recipient')
    TAP.ok(m['mail'].startswith('MAIL FROM:<alice@example.org>'), 'the sender', m['mail'])
    # a second transaction, and a third left open after RCPT: one connection, RSET between
    answers, _ = transaction(st, 'S1.2', ['carol@example.org'], b'Subject: 2\n\nx\n')
    TAP.is_(answers, ['OK', 'OK', 'OK'], 'a second transaction')
    st.ask(req('MAIL', 'S2.1'))
    st.ask(req('RCPT', 'S2.1', rcpt='dave@example.org'))
    answers, _ = transaction(st, 'S3.1', ['erin@example.org'], b'Subject: 3\n\nx\n')
    TAP.is_(answers, ['OK', 'OK', 'OK'], 'a transaction after one abandoned after RCPT')
    TAP.is_(ds.connections, 1, 'one downstream connection for all of them')
    nd = tcp_nodelay(st.p.pid, ds.port)
    if isinstance(nd, str):
        TAP.skip('TCP_NODELAY downstream', nd)
    else:
        # Nagle held the tail of each write (a BDAT chunk after its command
        # line, the pieces of a long message) 40 ms for the server's delayed ACK
        TAP.is_(nd, 1, 'the kept downstream connection has TCP_NODELAY')
    TAP.ok('RSET' in ds.commands, 'RSET before the MAIL that follows an open transaction', ds.commands)
    TAP.is_([m['rcpts'] for m in ds.messages], [['bob@example.org'], ['carol@example.org'], ['erin@example.org']],
            'each message to its own recipients, dave never got one')
    # the server closes the kept connection: the next MAIL reconnects at once
    import socket
    for c in ds.open:
        c.shutdown(socket.SHUT_RDWR)
    answers, _ = transaction(st, 'S4.1', ['frank@example.org'], b'Subject: 4\n\nx\n')
    TAP.is_(answers, ['OK', 'OK', 'OK'], 'a dropped connection is re-opened')
    TAP.is_(ds.connections, 2, 'by a second connection')
    a = action(st.ask(req('RCPT', 'S5.1', rcpt='later@example.org')))
    TAP.is_(a, '451 4.3.2 Service shutting down', "a downstream 421 reaches the client as 451 (the client's session goes on)")
    answers, _ = transaction(st, 'S6.1', ['gina@example.org'], b'Subject: 6\n\nx\n')
    TAP.is_((answers, ds.connections), (['OK', 'OK', 'OK'], 3), 'after a 421 the next transaction opens a new connection')
    err = st.close()
    TAP.ok('queued as FAKE1' in err, "the downstream's 250 text is logged (stderr)", err)
    ds.stop()


def t_fresh_data_process():
    """posternd may run data in another process than MAIL/RCPT (old
    [hooks] persistent, or a restart): the data request alone suffices."""
    ds = FakeSMTP()
    st = Step('inet:127.0.0.1:%d' % ds.port)
    d = st.ask(req('DATA', 'F1.1', rcpts=['a@example.org', 'b@example.org'], size=str(len(MSG))), MSG)
    TAP.is_(action(d), 'OK', 'a data request without MAIL and RCPT before it')
    TAP.is_(ds.messages[0]['rcpts'] if ds.messages else None, ['a@example.org', 'b@example.org'],
            'the transaction was built from sender= and postern_rcpt_list=')
    # RCPT taken downstream, then refused by a later step: not in the list at data
    st.ask(req('MAIL', 'F1.2'))
    st.ask(req('RCPT', 'F1.2', rcpt='x@example.org'))
    st.ask(req('RCPT', 'F1.2', rcpt='y@example.org', rcpts=['x@example.org']))
    d = st.ask(req('DATA', 'F1.2', rcpts=['y@example.org'], size='9'), b'Subject: \n')
    TAP.is_(action(d), 'OK', 'data after another step refused a recipient')
    TAP.is_(ds.messages[-1]['rcpts'], ['y@example.org'], 'the refused recipient does not get it')
    st.close()
    ds.stop()


def t_lmtp():
    ds = FakeSMTP(lmtp=True, lmtp_results={'full@example.org': '452 4.2.2 <full@example.org> Mailbox full',
                                            'gone@example.org': '550 5.2.1 <gone@example.org> disabled'})
    st = Step('--lmtp', 'inet:127.0.0.1:%d' % ds.port)
    answers, d = transaction(st, 'L1.1', ['a@example.org', 'b@example.org'], MSG)
    TAP.is_(answers, ['OK', 'OK', 'OK', 'OK'], 'LMTP: all recipients delivered: OK')
    TAP.is_(d.get('rcpt_action'), ['a@example.org 250 2.0.0 <a@example.org> delivered',
                                   'b@example.org 250 2.0.0 <b@example.org> delivered'],
            'LMTP: one rcpt_action per recipient, before action=')
    TAP.ok(any(c.startswith('LHLO ') for c in ds.commands), 'LHLO, not EHLO')
    answers, d = transaction(st, 'L1.2', ['a@example.org', 'full@example.org'], MSG)
    TAP.is_(answers[-1], '451 4.3.0 downstream inet:127.0.0.1:%d took 1 of 2 recipients: try again later '
            '(those taken will get the message twice)' % ds.port, 'LMTP mixed results: 451 4.3.0, never OK')
    TAP.is_(d.get('rcpt_action'), ['a@example.org 250 2.0.0 <a@example.org> delivered',
                                   'full@example.org 452 4.2.2 <full@example.org> Mailbox full'],
            'LMTP mixed results: each recipient its own reply')
    answers, d = transaction(st, 'L1.3', ['gone@example.org'], MSG)
    TAP.is_(answers[-1], '550 5.2.1 <gone@example.org> disabled', 'LMTP: all refused permanently: the 5xx')
    answers, d = transaction(st, 'L1.4', ['gone@example.org', 'full@example.org'], MSG)
    TAP.ok(answers[-1].startswith('452 4.2.2'), 'LMTP: refused, one temporarily: the 4xx', answers)
    # (the cut past 60000 bytes is not driven here: the step's stderr, one
    # line per recipient, would fill the pipe this harness reads at the end)
    many = ['user%03d-with-a-rather-long-local-part@example.org' % i for i in range(200)]
    answers, d = transaction(st, 'L1.5', many, MSG)
    size = sum(len(k) + len(v) + 2 for k, vs in (d or {}).items() for v in vs) + 1
    TAP.ok(answers[-1] == 'OK' and 4096 < size < 65536, '200 LMTP recipients: OK in an answer under 64 KiB (%d)' % size)
    TAP.is_(len((d or {}).get('rcpt_action', [])), 200, 'all 200 per-recipient results fit (posternd reads 64 KiB)')
    st.close()
    ds.stop()


def t_extensions():
    ds = FakeSMTP(caps=('PIPELINING',))
    st = Step('inet:127.0.0.1:%d' % ds.port)
    a = action(st.ask(req('MAIL', 'E1.1', postern_smtputf8='1')))
    TAP.ok(a and a.startswith('553 5.6.7 '), 'SMTPUTF8 to a server without it: 553 5.6.7', a)
    a = action(st.ask(req('MAIL', 'E1.2', postern_body='8BITMIME')))
    TAP.ok(a and a.startswith('550 5.6.3 '), '8BITMIME to a server without it: 550 5.6.3', a)
    a = action(st.ask(req('MAIL', 'E1.4', sender='a@example.org\rRCPT TO:<x@example.org>')))
    TAP.ok(a and a.startswith('451 ') and not any('x@example.org' in c for c in ds.commands),
           'a CR in a value is never sent (no command smuggling)', (a, ds.commands))
    a = action(st.ask(req('MAIL', 'E1.3', postern_requiretls='1')))
    TAP.ok(a and a.startswith('550 5.7.30 '), 'REQUIRETLS without verified TLS: 550 5.7.30', a)
    st.close()
    ds.stop()
    ds = FakeSMTP(caps=('8BITMIME', 'SMTPUTF8', 'DSN', 'SIZE 1000000', 'CHUNKING', 'BINARYMIME'))
    st = Step('inet:127.0.0.1:%d' % ds.port)
    extra = dict(postern_smtputf8='1', postern_body='BINARYMIME', postern_dsn_ret='HDRS',
                 postern_dsn_envid='QQ+2B1', postern_size='500', postern_dsn_notify='SUCCESS,FAILURE',
                 postern_dsn_orcpt='rfc822;bob@example.org')
    body = b'Subject: bin\n\n\x00\x01.\n\xff\n'
    answers, _ = transaction(st, 'E2.1', ['bob@example.org'], body, **extra)
    TAP.is_(answers, ['OK', 'OK', 'OK'], 'SMTPUTF8, BINARYMIME, DSN, SIZE to a server that has them')
    mail = [c for c in ds.commands if c.startswith('MAIL')]
    rcpt = [c for c in ds.commands if c.startswith('RCPT')]
    TAP.is_(mail, ['MAIL FROM:<alice@example.org> SIZE=500 BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1'],
            'MAIL FROM parameters passed on')
    TAP.is_(rcpt, ['RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org'],
            'RCPT TO parameters passed on')
    TAP.ok(any(c.startswith('BDAT') for c in ds.commands), 'BDAT to a CHUNKING server', ds.commands)
    TAP.is_(ds.messages[0]['data'] if ds.messages else None, b'Subject: bin\r\n\r\n\x00\x01.\n\xff\n',
            'BINARYMIME: header lines CR LF, the body byte for byte')
    st.close()
    ds.stop()


def t_tls_require():
    ds = FakeSMTP(caps=('8BITMIME',))
    st = Step('--tls=require', 'inet:127.0.0.1:%d' % ds.port)
    a = action(st.ask(req('MAIL', 'T1.1')))
    TAP.ok(a and a.startswith('451 4.7.10 '), '--tls=require and no STARTTLS offered: 451 4.7.10', a)
    TAP.ok(not any(c.startswith('MAIL') for c in ds.commands), 'and no MAIL sent', ds.commands)
    st.close()
    st = Step('--tls=try', 'inet:127.0.0.1:%d' % ds.port)
    answers, _ = transaction(st, 'T1.2', ['a@example.org'], MSG)
    TAP.is_(answers, ['OK', 'OK', 'OK'], '--tls=try and no STARTTLS offered: plaintext')
    st.close()
    ds.stop()
    ds = FakeSMTP(caps=('8BITMIME', 'STARTTLS'))     # says 220, then closes: no TLS
    st = Step('--tls=require', 'inet:127.0.0.1:%d' % ds.port)
    a = action(st.ask(req('MAIL', 'T1.3')))
    TAP.ok(a and a.startswith('451 4.7.5 '), 'the TLS handshake fails: 451 4.7.5', a)
    TAP.ok(not any(c.startswith('MAIL') for c in ds.commands), 'and no MAIL sent', ds.commands)
    st.close()
    st = Step('--tls=try', 'inet:127.0.0.1:%d' % ds.port)
    answers, _ = transaction(st, 'T1.4', ['a@example.org'], MSG)
    TAP.is_(answers, ['OK', 'OK', 'OK'], '--tls=try and a failing handshake: again in plaintext')
    TAP.is_(ds.commands.count('STARTTLS'), 2, 'STARTTLS tried once by each')
    st.close()
    ds.stop()


def t_usage():
    for args in (['--tls=maybe', 'inet:127.0.0.1:25'], ['smtp.example.org'], [],
                 ['--tls-ca', '/nonexistent', 'inet:127.0.0.1:25']):
        st = Step(*args)
        a = action(st.ask(req('MAIL', 'U1.1')))
        err = st.close()
        TAP.ok(a and a.startswith('451 4.3.0 ') and 'usage' in err,
               'a wrong command line (%s): 451 4.3.0 and the usage in the log' % ' '.join(args), (a, err))


def t_faults():
    port = free_port()
    st = Step('--timeout', '2', '--data-timeout', '2', 'inet:127.0.0.1:%d' % port)
    t0 = time.monotonic()
    a = action(st.ask(req('MAIL', 'D1.1')))
    TAP.ok(a and a.startswith('451 4.4.2 ') and 'refused' in a, 'downstream down: 451 at MAIL', a)
    d = st.ask(req('DATA', 'D1.1', rcpts=['a@example.org'], size=str(len(MSG))), MSG)
    TAP.ok(action(d) and action(d).startswith('451 '), 'downstream down: 451 at data too', d)
    TAP.ok(time.monotonic() - t0 < 5, 'at once')
    st.close()
    for fault, want in (('close-mid-data', '451 4.4.2 '), ('garbage', '451 4.5.0 '), ('stall', '451 4.4.1 '),
                        ('refuse-data', '554 5.7.1 content refused')):
        for caps in (('8BITMIME',), ('8BITMIME', 'CHUNKING')):
            ds = FakeSMTP(fault=fault, caps=caps)
            st = Step('--timeout', '2', '--data-timeout', '2', 'inet:127.0.0.1:%d' % ds.port)
            t0 = time.monotonic()
            big = MSG + b'\n' + b'x' * 200000 + b'\n'
            answers, _ = transaction(st, 'G1.1', ['a@example.org'], big)
            how = '%s (%s)' % (fault, 'BDAT' if 'CHUNKING' in caps else 'DATA')
            TAP.ok(answers[-1] and answers[-1].startswith(want), '%s: %s' % (how, want.strip()), answers)
            TAP.ok(time.monotonic() - t0 < 8, '%s: answered within the timeouts' % how)
            # the step goes on: a next transaction on a good server works
            ds.stop()
            st.close()


def main():
    if not os.access(PROG, os.X_OK):
        return TAP.skip_all('no postern-forward built')
    for t in (t_smtp_basic, t_fresh_data_process, t_lmtp, t_extensions, t_tls_require, t_usage, t_faults):
        TAP.run(t)
    return TAP.done()


sys.exit(main())
