#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-hold.py - the milter connection of a worker, with a milter that
# asks for the SMFIP_NR_* flags (the python3-milter recorder in its noreply
# mode, t/lib/milter_recorder.py: RCPT, headers, EOH and body unanswered,
# as rspamd does):
#  - the socket has TCP_NODELAY (read from the worker's own socket,
#    t/lib/sockopt.py): without it an unanswered event
#    followed by another small write waits for the milter's delayed ACK,
#    40 ms, which cut a session to 22 messages/s.  Asserted on the socket
#    option, not on a time, so that a loaded machine cannot make it flake;
#  - events held for one write with the next answered event (milter.h)
#    still reach the milter, whole and in order, over a session of 20
#    messages;
#  - a held event is sent once the SMTP client is quiet: a RCPT (unanswered)
#    reaches the milter while the client waits, not only with the message;
#  - RSET after held events: they and the ABORT reach the milter, and QUIT
#    closes its session;
#  - {client_connections}, asked for by a milter (the recorder in symlist
#    mode), is as Postfix's: the sessions open from the client, this one
#    included.
#
# Prints TAP.  Skips when python3-milter is missing.
import json
import os
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main  # noqa: E402
from postern_milters import Recorder, python_with_milter, stop_all  # noqa: E402
from sockopt import tcp_nodelay  # noqa: E402

ok, note = TAP.ok, TAP.diag


class Server(postern_test.Server):
    def __init__(self):
        d = postern_test.workdir()
        self.rec = self.sym = None
        try:
            self.rec = Recorder(d + '/rec', 'noreply')
            self.sym = Recorder(d + '/sym', 'symlist')
        except Exception:
            stop_all(self.rec, self.sym)
            raise
        self.rec_port, self.events_log = self.rec.port, self.rec.log
        self.sym_log = self.sym.log
        conf = {'milter.rec': {'socket': self.rec.socket, 'command_timeout': 10, 'content_timeout': 10},
                'milter.sym': {'socket': self.sym.socket},
                'smtp': {'pipeline': 'rec data'}, 'sym': {'pipeline': 'sym data'},
                'limits': {'limit_exempt': '192.0.2.0/24'}}    # loopback counted here
        postern_test.Server.__init__(self, config=conf, dir=d, endpoints=('smtp', 'sym'))

    def stop(self, *a, **k):
        stop_all(self.rec, self.sym)
        return postern_test.Server.stop(self, *a, **k)

    def events(self, done, timeout=15, log=None):
        """The recorded events once DONE(events) holds, or after TIMEOUT s."""
        end = time.time() + timeout
        while True:
            evs = []
            if os.path.exists(log or self.events_log):
                with open(log or self.events_log) as f:
                    evs = [json.loads(line) for line in f if line.endswith('\n')]
            if done(evs) or time.time() > end:
                return evs
            time.sleep(0.05)

    def reset(self):
        """Once every milter session so far has closed (the close of the
        last one may be recorded after its SMTP session ended), empty the
        record."""
        self.events(lambda evs: len([e for e in evs if e['ev'] == 'connect']) ==
                    len([e for e in evs if e['ev'] == 'close']))
        open(self.events_log, 'w').close()


def t_nodelay(srv):
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=30) as c:
        c.ehlo('client.example')
        c.sendmail('s@example.org', ['r@example.org'], 'Subject: one\r\n\r\nbody\r\n')
        # the session, and so its milter connection, is still open
        got = {}
        for pid in srv.worker_pids():
            v = tcp_nodelay(pid, srv.rec_port)
            if v is not None:
                got[pid] = v
    if any(isinstance(v, str) for v in got.values()):
        TAP.skip('TCP_NODELAY on the milter socket', 'cannot read a worker\'s socket: %s' % got)
        return
    ok(list(got.values()) == [1], 'the worker\'s milter socket has TCP_NODELAY', got)


def per_message(evs):
    """The events, one list per message (mail .. eom)."""
    msgs, cur = [], None
    for e in evs:
        if e['ev'] == 'mail':
            cur = []
            msgs.append(cur)
        if cur is not None and e['ev'] in ('mail', 'rcpt', 'header', 'eoh', 'body', 'eom'):
            cur.append((e['ev'], e['args'][:1]))
    return msgs


def t_session(srv):
    srv.reset()
    n = 20
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=30) as c:
        c.ehlo('client.example')
        refused = [i for i in range(n)
                   if c.sendmail('s%d@example.org' % i, ['r%d@example.org' % i, 'x%d@example.org' % i],
                                 'Subject: m%d\r\n\r\nbody %d\r\n' % (i, i))]
    ok(refused == [], '%d messages in one session, all taken' % n, refused)
    evs = srv.events(lambda evs: any(e['ev'] == 'close' for e in evs))
    want = [[('mail', ['<s%d@example.org>' % i]), ('rcpt', ['<r%d@example.org>' % i]),
             ('rcpt', ['<x%d@example.org>' % i]), ('header', ['Received']), ('header', ['Subject']),
             ('eoh', []), ('body', ['%d' % len('body %d\r\n' % i)]), ('eom', [])] for i in range(n)]
    got = per_message(evs)
    ok(got == want, 'the milter got every event of every message, in order', got[:2])
    ok([e['ev'] for e in evs][-1:] == ['close'], 'and the session closed', [e['ev'] for e in evs][-3:])


def t_quiet_client(srv):
    srv.reset()
    c = postern_test.Lines(socket.create_connection(('127.0.0.1', srv.port), timeout=30))
    try:
        c.reply()
        c.cmd('EHLO client.example')
        c.cmd('MAIL FROM:<s@example.org>')      # answered: sent at once
        r = c.cmd('RCPT TO:<quiet@example.org>')       # unanswered: held
        # the client now says nothing: the held RCPT goes all the same
        evs = srv.events(lambda evs: any(e['ev'] == 'rcpt' for e in evs))
        ok(r.startswith('250') and [e['args'] for e in evs if e['ev'] == 'rcpt'] == [['<quiet@example.org>']],
           'a held RCPT reaches the milter while the client is quiet', (r, evs))
        c.cmd('RCPT TO:<second@example.org>')
        c.cmd('RSET')
        c.cmd('QUIT')
    finally:
        c.sock.close()
    evs = srv.events(lambda evs: any(e['ev'] == 'close' for e in evs))
    names = [e['ev'] for e in evs]
    ok(names[-4:] == ['rcpt', 'rcpt', 'abort', 'close'],
       'RSET and QUIT after a held RCPT: it, ABORT and the close reach the milter', names)


def t_client_connections(srv):
    def connect_of(sock):
        port = str(sock.getsockname()[1])
        def done(evs):
            return [e for e in evs if e['ev'] == 'connect' and e['macros'].get('{client_port}') == port]
        return lambda: (done(srv.events(done, log=srv.sym_log)) or [{'macros': {}}])[0]['macros']
    with smtplib.SMTP('127.0.0.1', srv.ports['sym'], timeout=30) as c1:
        c1.ehlo('one.example')
        first = connect_of(c1.sock)()
        with smtplib.SMTP('127.0.0.1', srv.ports['sym'], timeout=30) as c2:
            c2.ehlo('two.example')
            second = connect_of(c2.sock)()
    got = [first.get('{client_connections}'), second.get('{client_connections}')]
    ok(got == ['1', '2'], '{client_connections}: the sessions open from the client, this one included', got)


def main():
    serve_tests(Server, ((t_nodelay,), (t_session,), (t_quiet_client,), (t_client_connections,)))
    return TAP.done()


if __name__ == '__main__':
    if python_with_milter() is None:
        sys.exit(TAP.skip_all('python3-milter missing: apt-get install python3-milter'))
    run_main(main)
