#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-dkim.py - opendkim and opendmarc as steps of posternd's pipelines,
# with their stock logic, end to end through smtplib, postern-maildir as
# the store:
#   - a message sent to the endpoint named "submission" (pipeline:
#     opendkim, store) is stored with opendkim's DKIM-Signature: opendkim
#     signs because its MTA setting names {daemon_name}, the endpoint;
#   - fed back, the same bytes, to the endpoint named "smtp" (pipeline:
#     opendkim, opendmarc, store), opendkim verifies it - the key comes
#     from a DNS server the test started - and opendmarc, reading
#     opendkim's result, passes it: stored with "Authentication-Results:
#     mx.test; dkim=pass" and "dmarc=pass" (example.org publishes
#     p=reject);
#   - the same message with its body changed: dkim=fail, and opendmarc
#     refuses it (550 5.7.1, RejectFailures);
#   - an unsigned message from example.org carrying a forged
#     "Authentication-Results: mx.test; dkim=pass": Postern removes the
#     forgery before the first step, so opendmarc refuses the message.
#
# DNS: dnsmasq with the key's TXT record and the DMARC record.  opendkim
# asks it through its libunbound resolver (ResolverConfiguration
# forwarding to dnsmasq's address@port); opendmarc asks the system
# resolver, so it runs in a mount namespace of its own with a resolv.conf
# naming dnsmasq on port 53 of a 127.53.x.y, which needs root: not root,
# the opendmarc parts skip (as they do where mount namespaces are not
# allowed, e.g. a container without CAP_SYS_ADMIN).  Nothing leaves the machine.
#
# Prints TAP; skips when opendkim (or dnsmasq) is not installed.
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main, workdir  # noqa: E402
import postern_dnsmasq  # noqa: E402
from postern_milters import DKIMKey, Dnsmasq, OpenDKIM, OpenDMARC, free_address, missing, stop_all  # noqa: E402

ok, note, skip = TAP.ok, TAP.diag, TAP.skip

MSG = ('From: Alice <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: %s\r\n'
       'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n'
       'Hello Bob,\r\n\r\nthe minutes are attached.\r\n-- \r\nAlice\r\n')


class Server(postern_test.Server):
    def __init__(self):
        d = workdir()
        self.dns = self.dkim = self.dmarc = None
        try:
            self.start_milters(d)
            mx = 'opendkim opendmarc data' if self.dmarc else 'opendkim data'
            conf = {'server': {'authserv_id': 'mx.test'},
                    'milter.opendkim': {'socket': self.dkim.socket},
                    'submission': {'pipeline': 'opendkim data'},
                    'smtp': {'pipeline': mx}}
            if self.dmarc:
                conf['milter.opendmarc'] = {'socket': self.dmarc.socket}
            postern_test.Server.__init__(self, config=conf, dir=d, endpoints=('smtp', 'submission'))
        except Exception:
            self.stop_milters()
            raise

    def start_milters(self, d):
        t0 = time.monotonic()
        key = DKIMKey(d + '/key', 'example.org', 'sel1')
        note('opendkim-genkey: %.1f s' % (time.monotonic() - t0))
        records = [key.dnsmasq, '--txt-record=_dmarc.example.org,v=DMARC1; p=reject']
        self.dmarc_why = OpenDMARC.unavailable(d)
        self.dns = Dnsmasq(d, records=records, local=['example.org', 'example.net'],
                           address=None if self.dmarc_why else free_address())
        self.dkim = OpenDKIM(d + '/opendkim', key, dns=self.dns, mta='submission', authserv_id='mx.test')
        if not self.dmarc_why:
            self.dmarc = OpenDMARC(d + '/opendmarc', self.dns, authserv_id='mx.test')
        note('opendkim listening after %.1f s%s' % (self.dkim.started_in, ', opendmarc after %.1f s'
                                                    % self.dmarc.started_in if self.dmarc else ''))

    def stop_milters(self):
        stop_all(self.dmarc, self.dkim)
        if self.dns is not None:
            self.dns.stop()

    def stop(self, *a, **k):
        st = postern_test.Server.stop(self, *a, **k)
        self.stop_milters()
        return st


def send(port, text, sender='alice@example.org'):
    """DATA's reply (code, text) for TEXT (LF or CRLF lines) sent as is."""
    with smtplib.SMTP('127.0.0.1', port, timeout=60) as c:
        c.ehlo('client.example')
        c.mail(sender)
        code, msg = c.rcpt('bob@example.net')
        if code != 250:
            return code, msg
        return c.data(text.replace('\r\n', '\n').replace('\n', '\r\n').encode())


def stored_bytes(srv, subject):
    for p in srv.messages():
        with open(p, 'rb') as f:
            raw = f.read()
        if re.search(rb'^Subject: ' + re.escape(subject.encode()) + rb'$', raw, re.M):
            return p, raw.decode('latin-1')
    return None, ''


def headers(text):
    """The header fields of TEXT, unfolded: [(name, value)]."""
    out = []
    for line in text.split('\n\n', 1)[0].split('\n'):
        if line[:1] in (' ', '\t') and out:
            out[-1] = (out[-1][0], out[-1][1] + ' ' + line.strip())
        elif ':' in line:
            n, v = line.split(':', 1)
            out.append((n, v.strip()))
    return out


def t_sign_verify(srv):
    code, msg = send(srv.ports['submission'], MSG % ('signed', 's1'))
    ok(code == 250, 'submission endpoint: 250', (code, msg))
    path, signed = stored_bytes(srv, 'signed')
    hs = headers(signed)
    sig = [v for n, v in hs if n == 'DKIM-Signature']
    ok(len(sig) == 1 and ' d=example.org;' in ' ' + sig[0] and 's=sel1;' in sig[0] and 'a=rsa-sha256' in sig[0],
       'stored with opendkim\'s DKIM-Signature (d=example.org, s=sel1): signed because {daemon_name} = submission',
       signed[:1500])
    ok(hs and hs[0][0] == 'DKIM-Signature' and hs[1][0] == 'Received' and 'by mx.test (Postern)' in hs[1][1],
       'the signature above our Received: field', [n for n, _ in hs])
    ok(srv.wait_log(r': milter opendkim: 1 edit applied$', 5), 'the edit is logged')
    ok(not [v for n, v in hs if n == 'Authentication-Results'], 'no Authentication-Results on the signing side')
    srv.signed = signed

    code, msg = send(srv.ports['smtp'], signed)
    ok(code == 250, 'the same bytes into the smtp endpoint: 250', (code, msg))
    msgs = []
    for p in srv.messages():
        with open(p, 'rb') as f:
            raw = f.read().decode('latin-1')
        if p != path and re.search(r'^Subject: signed$', raw, re.M):
            msgs.append(raw)
    ok(len(msgs) == 1, 'stored once more', len(msgs))
    ar = [v for n, v in headers(msgs[0] if msgs else '') if n == 'Authentication-Results']
    note('\n'.join('Authentication-Results: ' + v for v in ar))
    dkim = [v for v in ar if re.search(r'\bdkim=', v)]
    ok(len(dkim) == 1 and re.match(r'mx\.test; dkim=pass \(2048-bit key[^)]*\) header\.d=example\.org\b', dkim[0])
       and 'header.s=sel1' in dkim[0],
       'opendkim verified it with the key from DNS: Authentication-Results: mx.test; dkim=pass header.d=example.org',
       ar)
    if srv.dmarc:
        ok([v for v in ar if re.match(r'mx\.test; dmarc=pass \(p=reject dis=none\) header\.from=example\.org$', v)],
           'opendmarc after it: Authentication-Results: mx.test; dmarc=pass (p=reject)', ar)
    else:
        skip('dmarc=pass', srv.dmarc_why)
    ok(msgs and msgs[0].index('\nDKIM-Signature:') > msgs[0].index('Received:'),
       'the signature unchanged below both Received: fields', msgs[0][:1500] if msgs else '')
    ok(msgs and msgs[0].count('\nDKIM-Signature:') == 1, 'and not signed a second time on the smtp endpoint',
       msgs[0][:1500] if msgs else '')
    q = srv.dns.queries()
    ok('TXT sel1._domainkey.example.org' in q, 'the key was asked of the test\'s DNS server', q)


def t_tampered(srv):
    bad = srv.signed.replace('the minutes are attached.', 'the minutes are NOT attached.')
    ok(bad != srv.signed, 'a signed message with its body changed')
    n = len(srv.messages())
    code, msg = send(srv.ports['smtp'], bad)
    if srv.dmarc:
        ok(code == 550 and msg.startswith(b'5.7.1 ') and b'DMARC' in msg.upper(),
           'dkim=fail, and opendmarc refuses it (p=reject): 550 5.7.1', (code, msg))
        ok(len(srv.messages()) == n, 'not stored')
    else:
        skip('opendmarc refuses it', srv.dmarc_why)
        text = [open(p, errors='replace').read() for p in srv.messages()[n:]]
        ok(text and re.search(r'^Authentication-Results: mx\.test;\s+dkim=fail', text[-1], re.M),
           'dkim=fail', text)


def t_forged(srv):
    if not srv.dmarc:
        return skip('a forged dkim=pass does not reach opendmarc', srv.dmarc_why)
    forged = ('Authentication-Results: mx.test; dkim=pass header.d=example.org header.s=sel1\r\n'
              + MSG % ('forged', 'f1'))
    code, msg = send(srv.ports['smtp'], forged)
    ok(code == 550 and msg.startswith(b'5.7.1 '),
       'unsigned, with a forged "Authentication-Results: mx.test; dkim=pass": Postern removes it, '
       'opendmarc refuses the message', (code, msg))
    ok(srv.wait_log(r': removed 1 Authentication-Results field with our authserv-id mx\.test', 5),
       'the removal is logged (opendkim runs with KeepAuthResults: Postern removed it, not opendkim)')
    code, msg = send(srv.ports['smtp'], (MSG % ('other domain', 'o1')).replace('alice@example.org', 'x@example.net'),
                     sender='x@example.net')
    ok(code == 250, 'an unsigned message from a domain without a DMARC record: 250', (code, msg))
    _, text = stored_bytes(srv, 'other domain')
    ok(re.search(r'^Authentication-Results: mx\.test; dmarc=none', text, re.M),
       'stored with dmarc=none', text[:1200])


def main():
    serve_tests(Server, ((t_sign_verify,), (t_tampered,), (t_forged,)))
    return TAP.done()


if __name__ == '__main__':
    why = missing(OpenDKIM) or postern_dnsmasq.missing()
    if why:
        sys.exit(TAP.skip_all(why))
    run_main(main)
