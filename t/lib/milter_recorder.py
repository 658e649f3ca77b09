#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""milter_recorder.py - a milter written with Debian's python3-milter
(libmilter underneath) for the milter protocol tests: it records every
event, its arguments and every macro it can see to a file (one JSON object
per line), and, driven by the client's host name, the HELO name, the
sender, the recipient or the Subject, gives each reply and makes each edit.

    milter_recorder.py PORT LOGFILE [MODE]

MODE: default (replies to every event, Postfix's default macro lists),
symlist (asks for its own macro lists with SETSYMLIST), noreply (NR_* for
the events it does not answer, no HELO and no DATA callbacks at all),
leadspc (HDR_LEADSPC).
"""
import json
import sys
import time

import Milter

MACROS = ['j', '_', 'v', 'i', '{daemon_name}', '{daemon_addr}', '{client_addr}', '{client_port}',
          '{client_name}', '{client_ptr}', '{client_connections}', '{auth_type}', '{auth_authen}',
          '{auth_author}', '{tls_version}', '{cipher}', '{cipher_bits}', '{cert_subject}',
          '{cert_issuer}', '{mail_mailer}', '{mail_host}', '{mail_addr}', '{rcpt_mailer}',
          '{rcpt_host}', '{rcpt_addr}']

LOG = None


def text(x):
    return x.decode('utf-8', 'replace') if isinstance(x, bytes) else x


class Recorder(Milter.Base):
    def __init__(self):
        self.subject = ''

    def rec(self, ev, *args):
        macros = {}
        for m in MACROS:
            v = self.getsymval(m)
            if v is not None:
                macros[m] = text(v)
        with open(LOG, 'a') as f:
            f.write(json.dumps({'ev': ev, 'args': [text(a) for a in args], 'macros': macros,
                                'protocol': self._protocol}) + '\n')

    def connect(self, hostname, family, hostaddr):
        self.rec('connect', hostname, str(family), json.dumps(hostaddr))
        if hostname == 'reject.example':
            return Milter.REJECT
        if hostname == 'tempfail.example':
            return Milter.TEMPFAIL
        if hostname == 'replycode.example':
            self.setreply('554', '5.7.1', 'not you')
            return Milter.REJECT
        if hostname == 'accept.example':
            return Milter.ACCEPT
        if hostname == 'stall.example':
            time.sleep(8)
        return Milter.CONTINUE

    def hello(self, name):
        self.rec('helo', name)
        return Milter.REJECT if name == 'helo-reject' else Milter.CONTINUE

    def envfrom(self, sender, *params):
        self.rec('mail', sender, *params)
        if 'mail-reject' in sender:
            return Milter.REJECT
        if 'mail-accept' in sender:
            return Milter.ACCEPT
        if 'mail-discard' in sender:
            return Milter.DISCARD
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        self.rec('rcpt', rcpt, *params)
        for word, rc in (('rcpt-reject', Milter.REJECT), ('rcpt-tempfail', Milter.TEMPFAIL),
                         ('rcpt-discard', Milter.DISCARD), ('rcpt-accept', Milter.ACCEPT)):
            if word in rcpt:
                return rc
        if 'rcpt-replycode' in rcpt:
            self.setreply('550', '5.1.1', 'no such user here')
            return Milter.REJECT
        return Milter.CONTINUE

    def data(self):
        self.rec('data')
        return Milter.CONTINUE

    def header(self, name, value):
        self.rec('header', name, value)
        if name.lower() == 'subject':
            self.subject = value
        if 'header-reject' in value:
            return Milter.REJECT
        return Milter.CONTINUE

    def eoh(self):
        self.rec('eoh')
        return Milter.CONTINUE

    def body(self, chunk):
        self.rec('body', str(len(chunk)), text(chunk[:40]), text(chunk[-20:]))
        if 'body-skip' in self.subject:
            return Milter.SKIP
        return Milter.CONTINUE

    def unknown(self, cmd):
        self.rec('unknown', cmd)
        return Milter.REJECT if b'XREJECT' in (cmd if isinstance(cmd, bytes) else cmd.encode()) \
            else Milter.CONTINUE

    def eom(self):
        self.rec('eom')
        s = self.subject
        if 'edits' in s:
            self.addheader('X-Added', 'yes')
            self.addheader('X-Top', 'top', 0)
            self.addheader('X-Folded', 'one\n\ttwo')
            self.chgheader('Subject', 1, 'changed edits')
            self.chgheader('X-Gone', 1, '')
            self.addrcpt('<added@example.org>')
            self.addrcpt('<par@example.org>', 'NOTIFY=NEVER')
            self.delrcpt('<del@example.org>')
            self.chgfrom('<new@example.org>', 'SIZE=1234')
            self.replacebody(b'new body\r\n')
            self.replacebody(b'second part\r\n')
            self.quarantine('held for review')
            return Milter.CONTINUE
        if 'eom-reject' in s:
            return Milter.REJECT
        if 'eom-tempfail' in s:
            return Milter.TEMPFAIL
        if 'eom-discard' in s:
            return Milter.DISCARD
        if 'eom-replycode' in s:
            self.setreply('550', '5.7.1', 'line one', 'line two')
            return Milter.REJECT
        if 'eom-progress' in s:
            for _ in range(3):
                time.sleep(1)
                self.progress()
            return Milter.ACCEPT
        if 'eom-stall' in s:
            time.sleep(8)
        return Milter.CONTINUE

    def abort(self):
        self.rec('abort')
        return Milter.CONTINUE

    def close(self):
        self.rec('close')
        return Milter.CONTINUE


class SymList(Recorder):
    # Milter.symlist would do, but python3-milter 1.0.5 passes bytes where
    # its C part wants str (TypeError, and the lists are silently dropped).
    def negotiate(self, opts):
        self._actions, p, _, _ = opts
        self._ctx.setsymlist(Milter.M_CONNECT, '{client_addr} {client_port} {client_ptr} {client_connections} j')
        self._ctx.setsymlist(Milter.M_EOM, '{auth_type} {mail_addr}')
        opts[1] = self._protocol = p & ~self.protocol_mask()
        opts[2] = opts[3] = 0
        return Milter.CONTINUE


class NoReply(Recorder):
    @Milter.noreply
    def header(self, name, value):
        Recorder.header(self, name, value)
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk):
        self.rec('body', str(len(chunk)))
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self):
        return Recorder.eoh(self)

    @Milter.noreply
    def envrcpt(self, rcpt, *params):
        self.rec('rcpt', rcpt, *params)
        return Milter.CONTINUE

    @Milter.nocallback
    def hello(self, name):
        return Milter.CONTINUE

    @Milter.nocallback
    def data(self):
        return Milter.CONTINUE


@Milter.header_leading_space
class LeadSpc(Recorder):
    pass


def main():
    global LOG
    port, LOG = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else 'default'
    Milter.factory = {'default': Recorder, 'symlist': SymList, 'noreply': NoReply,
                      'leadspc': LeadSpc}[mode]
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGBODY | Milter.ADDRCPT | Milter.ADDRCPT_PAR |
                     Milter.DELRCPT | Milter.CHGHDRS | Milter.QUARANTINE | Milter.CHGFROM |
                     Milter.SETSYMLIST)
    sys.stdout.flush()
    Milter.runmilter('recorder', 'inet:%s@127.0.0.1' % port, timeout=30)


if __name__ == '__main__':
    main()
