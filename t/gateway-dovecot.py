#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""gateway-dovecot.py - Postern in front of Dovecot: postern-forward --lmtp
as the mail/rcpt/data step, a private Dovecot (LMTP and IMAP on free
loopback ports, its own base_dir, a passwd-file userdb, Maildirs in the
test's directory) started and stopped by PID.  The message is read back
over IMAP byte for byte apart from the trace headers; an unknown user is
refused at RCPT with Dovecot's own code; with Dovecot stopped the client
gets 4xx, and after Dovecot is back the client's retry delivers the
message, once."""
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from postern_test import TAP, Server, workdir, run_main, free_port, nobody_ids
from postern_gateway import gateway_config, send

MSG = ('Subject: via Dovecot\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.org\r\n'
       'Message-ID: <gw-1@example.org>\r\n\r\nHello Bob,\r\n.a line with a dot\r\n..two dots\r\n'
       '8-bit: gr\u00fc\u00dfe\r\n' + 'x' * 900 + '\r\nend\r\n').encode('utf-8')


class Dovecot:
    def __init__(self, d):
        self.d, self.lmtp, self.imap = d, free_port(), free_port()
        uid, gid = nobody_ids()
        for sub in ('run', 'state', 'home'):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chown(os.path.join(d, 'home'), uid, gid)
        with open(os.path.join(d, 'users'), 'w') as f:
            f.write('bob:{PLAIN}bobpass:%d:%d::%s/home/bob::\n' % (uid, gid, d))
            # carol's mailbox is full: Dovecot refuses her at the end of the message
            f.write('carol:{PLAIN}carolpass:%d:%d::%s/home/carol::userdb_quota_rule=*:storage=1K\n' % (uid, gid, d))
        self.conf = os.path.join(d, 'dovecot.conf')
        with open(self.conf, 'w') as f:
            f.write('''base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_username_format = %Ln
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
postmaster_address = postmaster@example.org
mail_location = maildir:~/Maildir
mail_plugins = quota
plugin {{
  quota = maildir:User quota
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
'''.format(d=d, imap=self.imap, lmtp=self.lmtp))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(['dovecot', '-F', '-c', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.d + '/dovecot.err', 'ab'))
        end = time.monotonic() + 30
        for port in (self.lmtp, self.imap):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError('dovecot exited: ' + self.log())
                try:
                    socket.create_connection(('127.0.0.1', port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise RuntimeError('dovecot did not listen: ' + self.log())
                    time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        text = ''
        for n in ('dovecot.log', 'dovecot.err'):
            try:
                text += open(os.path.join(self.d, n), errors='replace').read()[-2000:]
            except OSError:
                pass
        return text

    def fetch_all(self, user='bob'):
        """Every message of USER's INBOX over IMAP (bytes)."""
        m = imaplib.IMAP4('127.0.0.1', self.imap)
        try:
            m.login(user, user + 'pass')
            m.select('INBOX', readonly=True)
            _, ids = m.search(None, 'ALL')
            out = []
            for i in ids[0].split():
                _, data = m.fetch(i, '(BODY.PEEK[])')
                out.append(data[0][1])
            return out
        finally:
            m.logout()


TRACE = re.compile(rb'^(Return-Path|Delivered-To|Received):', re.I)


def strip_trace(msg):
    """The message without the trace header fields at its top."""
    lines = msg.split(b'\r\n')
    i = 0
    while i < len(lines) and (TRACE.match(lines[i]) or (i > 0 and lines[i][:1] in (b' ', b'\t'))):
        i += 1
    return b'\r\n'.join(lines[i:])


def run(srv, dc):
    r = send(srv.port, 'alice@example.org', ['bob@example.org', 'nobody@example.org'], MSG,
             mail_options=['BODY=8BITMIME'])
    TAP.is_(r['rcpt'][0][0], 250, 'a Dovecot user: 250 at RCPT')
    TAP.ok(r['rcpt'][1][0] == 550 and b'5.1.1' in r['rcpt'][1][1] and b"doesn't exist" in r['rcpt'][1][1],
           "an unknown user: Dovecot's 550 5.1.1 at RCPT", r['rcpt'][1])
    TAP.is_(r['data'][0] if r['data'] else None, 250, 'the message: 250 after Dovecot took it')
    got = dc.fetch_all()
    TAP.is_(len(got), 1, 'one message in the mailbox')
    body = strip_trace(got[0]) if got else b''
    TAP.is_(body, MSG, 'read back over IMAP byte for byte, apart from the trace headers')
    TAP.ok(got and re.search(rb'^Received: from client\.example', got[0], re.M), "with posternd's Received header")

    # LMTP mixed results: bob takes it, carol's mailbox is full
    msg4 = MSG.replace(b'gw-1@', b'gw-4@')
    r = send(srv.port, 'alice@example.org', ['bob@example.org', 'carol@example.org'], msg4,
             mail_options=['BODY=8BITMIME'])
    TAP.is_([c for c, _ in r['rcpt']], [250, 250], 'bob and carol taken at RCPT')
    TAP.ok(r['data'] and r['data'][0] == 451 and r['data'][1].startswith(b'4.3.0 '),
           'one delivered, one refused at the end of the message: 451 4.3.0, never 250', r['data'])
    TAP.is_(len([m for m in dc.fetch_all() if b'gw-4@' in m]), 1, 'bob has it (he gets it again on retry)')
    TAP.is_(len([m for m in dc.fetch_all('carol') if b'gw-4@' in m]), 0, 'carol has not')

    dc.stop()
    t0 = time.monotonic()
    msg2 = MSG.replace(b'gw-1@', b'gw-2@')
    r = send(srv.port, 'alice@example.org', ['bob@example.org'], msg2, mail_options=['BODY=8BITMIME'])
    codes = [r['mail'][0]] + [c for c, _ in r['rcpt']] + ([r['data'][0]] if r['data'] else [])
    TAP.ok(any(400 <= c < 500 for c in codes) and 250 != (r['data'] or (0,))[0],
           'Dovecot stopped: the client gets 4xx, not 250', r)
    TAP.ok(time.monotonic() - t0 < 15, 'at once')
    dc.start()
    r = send(srv.port, 'alice@example.org', ['bob@example.org'], msg2, mail_options=['BODY=8BITMIME'])
    TAP.is_(r['data'][0] if r['data'] else None, 250, "Dovecot back: the client's retry is taken")
    got = dc.fetch_all()
    TAP.is_(len([m for m in got if b'gw-2@' in m]), 1, 'the retried message is in the mailbox once: no loss')


def t_unix(dc, d):
    """The same over Dovecot's UNIX-domain LMTP socket (unix:/path)."""
    conf = gateway_config(d, 'postern-forward', ['--lmtp', 'unix:%s/run/lmtp' % dc.d], timeout=20)
    with Server(dir=d, config=conf) as srv:
        msg3 = MSG.replace(b'gw-1@', b'gw-3@')
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], msg3, mail_options=['BODY=8BITMIME'])
        TAP.is_(r['data'][0] if r['data'] else None, 250, 'unix:/path: delivered through the LMTP socket')
        got = [m for m in dc.fetch_all() if b'gw-3@' in m]
        TAP.ok(len(got) == 1 and strip_trace(got[0]) == msg3, 'once, byte for byte')


def main():
    d = workdir()
    dc = Dovecot(os.path.join(d, 'dovecot'))
    try:
        dc.start()
    except RuntimeError as e:
        TAP.ok(False, 'start dovecot', str(e))
        return TAP.done()
    try:
        conf = gateway_config(d, 'postern-forward', ['--lmtp', '--timeout', '5', 'inet:127.0.0.1:%d' % dc.lmtp],
                              timeout=20)
        with Server(dir=d, config=conf) as srv:
            TAP.run(run, srv, dc)
        TAP.run(t_unix, dc, workdir())
    finally:
        dc.stop()
    return TAP.done()


if shutil.which('dovecot') is None or not os.path.exists('/usr/lib/dovecot/lmtp') \
        or not os.path.exists('/usr/lib/dovecot/imap'):
    print('1..0 # SKIP dovecot missing: apt-get install dovecot-lmtpd dovecot-imapd')
    raise SystemExit(0)
run_main(main)
