#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-posternd.py - milters as steps of posternd's pipeline, end to end
# through smtplib: the python3-milter recorder (t/lib/milter_recorder.py)
# sees the session's events with {daemon_name} = the endpoint; its edits
# land in the stored message and in the envelope the next data step is
# given; its refusals are the SMTP replies; discard answers 250 and stores
# nothing; a milter that is down makes the session 451 with
# default_action = tempfail and is skipped with accept.
#
# Prints TAP.  Skips when python3-milter is missing.
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, free_port, serve_tests, run_main, write_script  # noqa: E402
from postern_milters import Recorder, python_with_milter  # noqa: E402

ok, note = TAP.ok, TAP.diag

ENV_STEP = r'''#!/bin/sh
# a data step after the milter: what envelope and message does it get?
{ echo "from=$POSTERN_MAIL_FROM"; printf 'rcpts=%%s\n' "$POSTERN_RCPTS" | tr '\n' ' '; echo;
  printf 'dsn=%%s\n' "$POSTERN_RCPTS_DSN" | tr '\n' ' '; echo;
  echo "quarantine=$POSTERN_QUARANTINE"; } >> %(log)s
exit 0
'''


def self_maildir(d):
    return postern_test.install_program(d, os.path.join(postern_test.BUILDDIR, 'hooks', 'postern-maildir'),
                                        'maildir-q')


def count(d):
    try:
        return len([f for f in os.listdir(d + '/new') if not f.startswith('.')])
    except OSError:
        return 0


class Server(postern_test.Server):
    def __init__(self):
        d = postern_test.workdir()
        self.rec = Recorder(d + '/recorder')
        self.envlog = d + '/env.log'
        env = write_script(d + '/envstep', ENV_STEP % {'log': self.envlog})
        down = free_port()
        conf = {
            'milter.rec': {'socket': self.rec.socket, 'command_timeout': 10,
                           'content_timeout': 10},
            'milter.down': {'socket': 'inet:127.0.0.1:%d' % down},
            'milter.downok': {'socket': 'inet:127.0.0.1:%d' % down, 'default_action': 'accept'},
            'hook.env': {'stage': 'data', 'command': env},
            'hook.qstore': {'stage': 'data', 'command': '%s %s/Main %s/Held' % (self_maildir(d), d, d)},
            'smtp': {'pipeline': 'rec env data'},
            'submission': {'pipeline': 'rec env data'},
            'tempf': {'pipeline': 'down data'},
            'acc': {'pipeline': 'downok data'},
            'quar': {'pipeline': 'rec env qstore'},
        }
        postern_test.Server.__init__(self, config=conf, dir=d, endpoints=('smtp', 'submission', 'tempf', 'acc', 'quar'))

    def stop(self, *a, **k):
        self.rec.stop()
        return postern_test.Server.stop(self, *a, **k)

    def events(self, until='close', timeout=10):
        return self.rec.events(until, timeout)

    def reset(self):
        self.rec.reset()
        open(self.envlog, 'w').close()
        os.chmod(self.envlog, 0o666)     # the workers run as nobody under root


MSG = ('From: <s@example.org>\r\nTo: <keep@example.org>\r\nSubject: %s\r\nX-Gone: this goes\r\n\r\n'
       'first line\r\nsecond line\r\n')


def t_edits(srv):
    srv.reset()
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=30) as c:
        c.ehlo('client.example')
        r = c.sendmail('s@example.org', ['del@example.org', 'keep@example.org'], MSG % 'please make edits',
                       rcpt_options=['NOTIFY=NEVER'])
        ok(r == {}, 'a message through the milter step: 250')
    evs = srv.events()
    names = [e['ev'] for e in evs]
    # (the server's readiness probes are sessions of their own, interleaved)
    order = ['connect', 'helo', 'mail', 'rcpt', 'data', 'header', 'eoh', 'body', 'eom']
    ok(all(n in names for n in order) and [names.index(n) for n in order] == sorted(names.index(n) for n in order),
       'the milter sees the session: connect, helo, mail, rcpt, data, header, eoh, body, eom', names)
    conn = [e for e in evs if e['ev'] == 'connect' and e['macros'].get('{daemon_name}') == 'smtp'][0]
    ok(conn['macros'].get('{daemon_name}') == 'smtp' and conn['macros'].get('j') == 'mx.test',
       'CONNECT macros: {daemon_name} is the endpoint name, j the host name', conn['macros'])
    mail = [e for e in evs if e['ev'] == 'mail'][0]
    ok(mail['args'][0] == '<s@example.org>' and mail['macros'].get('{mail_addr}') == 's@example.org',
       'MAIL: the sender and {mail_addr}', mail)
    rcpts = [e['args'] for e in evs if e['ev'] == 'rcpt']
    ok(rcpts == [['<del@example.org>', 'NOTIFY=NEVER'], ['<keep@example.org>', 'NOTIFY=NEVER']],
       'RCPT with its ESMTP args', rcpts)
    hdrs = [e['args'] for e in evs if e['ev'] == 'header']
    ok(hdrs and hdrs[0][0] == 'Received' and 'by mx.test' in hdrs[0][1], 'the first header it sees is our Received:',
       hdrs[:1])
    text = srv.message('changed edits')
    lines = text.split('\n')
    ok(text.startswith('X-Top: top\n') and lines[1].startswith('Received: from client.example'),
       'stored: the inserted header above our Received:', text[:300])
    ok('X-Gone' not in text and 'X-Added: yes\n' in text and 'X-Folded: one\n\ttwo\n' in text,
       'stored: header deleted, added, folded', text)
    ok(text.endswith('\n\nnew body\nsecond part\n'), 'stored: the body replaced (two chunks)', text[-80:])
    env = open(srv.envlog).read()
    ok('from=new@example.org\n' in env, 'the next data step gets the changed sender', env)
    ok('rcpts=keep@example.org added@example.org par@example.org ' in env,
       'and the recipients: deleted one gone, two added', env)
    ok('NOTIFY=NEVER ORCPT= NOTIFY= ORCPT= NOTIFY=NEVER ORCPT=' in env, 'with their DSN parameters', env)
    ok(srv.wait_log(r'milter rec: 1[0-9] edits applied'), 'the edits are logged')


def t_quarantine(srv):
    srv.reset()
    d = srv.dir
    with smtplib.SMTP('127.0.0.1', srv.ports['quar'], timeout=30) as c:
        r1 = c.sendmail('s@example.org', ['keep@example.org'], MSG % 'please make edits')
        r2 = c.sendmail('s@example.org', ['keep@example.org'], MSG % 'plain')
    ok(r1 == {} and r2 == {} and count(d + '/Held') == 1 and count(d + '/Main') == 1,
       'quarantined by the milter: postern-maildir files it in the second Maildir; the other in the first',
       (count(d + '/Held'), count(d + '/Main')))
    env = open(srv.envlog).read()
    ok('quarantine=held for review\n' in env and 'quarantine=\n' in env,
       'later data steps get POSTERN_QUARANTINE (only for the quarantined message)', env)


def t_daemon_name(srv):
    srv.reset()
    with smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=30) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
    # the previous test's session may still log its close after reset():
    # look at this session's connect event
    end = time.time() + 10
    while True:
        conn = [e for e in srv.events(until='mail') if e['ev'] == 'connect']
        if conn or time.time() > end:
            break
        time.sleep(0.05)
    ok(conn and conn[0]['macros'].get('{daemon_name}') == 'submission',
       '{daemon_name} on the submission endpoint', conn)


def t_refusals(srv):
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=30) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        code, msg = c.rcpt('rcpt-replycode@example.org')
        ok(code == 550 and msg == b'5.1.1 no such user here', "RCPT refused with the milter's own reply",
           (code, msg))
        code, msg = c.rcpt('rcpt-tempfail@example.org')
        ok(code == 451 and msg.startswith(b'4.7.1'), 'RCPT tempfail: 451 4.7.1', (code, msg))
        code, msg = c.rcpt('ok@example.org')
        ok(code == 250, 'the next recipient passes', (code, msg))
        code, msg = c.data((MSG % 'eom-replycode').encode())
        ok(code == 550 and b'line one' in msg and b'line two' in msg, 'end of message: multi-line 550', (code, msg))
        ok(srv.message('eom-replycode') == '', 'the refused message is not stored')
        c.rset()
        n = len(srv.messages())
        r = c.sendmail('s@example.org', ['ok@example.org'], MSG % 'eom-discard')
        ok(r == {} and len(srv.messages()) == n, 'discard: 250, nothing stored', r)
        ok(srv.wait_log(r'discarded by milter rec'), 'discard is logged with the milter name')
        r = c.sendmail('s@example.org', ['rcpt-discard@example.org', 'ok@example.org'], MSG % 'rcpt discard')
        ok(r == {} and len(srv.messages()) == n and srv.message('rcpt discard') == '',
           'discard at RCPT: the message is answered 250 and stored nowhere', r)
        ok(srv.wait_log(r'discarded by milter rec \(at rcpt\)'), 'logged with the stage')
        r = c.sendmail('s@example.org', ['ok@example.org'], MSG % 'after discard')
        ok(r == {} and srv.message('after discard'), 'the next message of the session is stored')


def t_unknown(srv):
    srv.reset()
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=30) as c:
        c.ehlo('client.example')
        code, msg = c.docmd('XFOO bar')
        ok(code == 500, 'an unknown command the milter lets pass: 500 as usual', (code, msg))
        code, msg = c.docmd('XREJECT now')
        ok(code == 550 and msg == b'5.7.1 Command rejected', "one it refuses: the milter's reply", (code, msg))
    unknown = [e['args'] for e in srv.events() if e['ev'] == 'unknown']
    ok(unknown == [['XFOO bar'], ['XREJECT now']], 'the milter got both command lines (UNKNOWN)', unknown)


def t_down(srv):
    c = smtplib.SMTP(timeout=30)
    got = [c.connect('127.0.0.1', srv.ports['tempf'])[0], c.ehlo('client.example')[0],
           c.docmd('MAIL FROM:<s@example.org>'), c.docmd('RSET')[0], c.docmd('MAIL FROM:<t@example.org>')[0]]
    c.close()
    ok(got[:2] == [220, 250] and got[2] == (451, b'4.7.1 Service unavailable - try again later') and got[3:] == [250, 451],
       'milter down at CONNECT, default_action tempfail: greeting 220, EHLO 250, then 451 4.7.1 from MAIL on '
       '(as Postfix, DESIGN.md)', got)
    ok(srv.wait_log(r'milter down \(inet:127\.0\.0\.1:\d+\): cannot connect.*default_action tempfail'),
       'the failure is logged with the milter name')
    with smtplib.SMTP('127.0.0.1', srv.ports['acc'], timeout=30) as c:
        r = c.sendmail('s@example.org', ['ok@example.org'], MSG % 'milter down accept')
        ok(r == {} and srv.message('milter down accept'), 'milter down, default_action accept: stored')


def main():
    serve_tests(Server, ((t_edits,), (t_quarantine,), (t_daemon_name,), (t_refusals,), (t_unknown,), (t_down,)))
    return TAP.done()


if __name__ == '__main__':
    if python_with_milter() is None:
        sys.exit(TAP.skip_all('python3-milter missing: apt-get install python3-milter'))
    run_main(main)
