#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# extensions-python.py - the parts of t/extensions.t that need Python's
# clients:
#
#   - SMTPUTF8 (RFC 6531) with smtplib: sendmail(..., mail_options=
#     ['SMTPUTF8']) with a UTF-8 sender and recipient, and send_message()
#     with an internationalised EmailMessage; the hook sees the exact bytes;
#   - the PROXY protocol in front of implicit TLS (RFC 8314): the v1 or v2
#     header in plaintext, then the TLS handshake on the same socket (the
#     greeting comes inside TLS and the hook sees the header's address),
#     the header and the ClientHello in one write, and a ClientHello
#     without the header (closed).
#
# Python 3 standard library only.  Prints TAP.  Starts its posternd with
# t/lib/postern_test.py.
import os
import re
import smtplib
import socket
import ssl
import struct
import sys
import time
import traceback
from email.message import EmailMessage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import BUILDDIR, TAP, run_main, serve_tests, Lines, client_context, install_program, write_script  # noqa: E402

ok, note = TAP.ok, TAP.diag


class Server(postern_test.Server):
    """posternd with endpoints smtp (plain) and pxtls (implicit TLS behind
    a PROXY protocol header from 127.0.0.1); a data hook that records its
    environment (env -0 into DIR/denv.NS.PID) and stores into DIR/Maildir."""

    def __init__(self):
        d = postern_test.workdir()
        maildir_hook = install_program(d, BUILDDIR + '/hooks/postern-maildir')
        write_script(d + '/datahook',
                     '#!/bin/sh\nenv -0 > %s/.denv.$$\nmv %s/.denv.$$ %s/denv.$(date +%%s%%N).$$\n'
                     'exec %s %s/Maildir\n' % (d, d, d, maildir_hook, d))
        postern_test.Server.__init__(
            self, dir=d, tls=True, endpoints=('smtp', 'pxtls'),
            config={'limits': {'command_timeout': 3},
                    'hooks': {'data': d + '/datahook'},
                    'pxtls': {'tls': 'implicit', 'proxy_protocol': 'yes',
                              'proxy_trusted': '127.0.0.1/32'}})

    def envs(self):
        names = [f for f in os.listdir(self.dir) if f.startswith('denv.')]
        names.sort(key=lambda f: int(f.split('.')[1]))
        return [os.path.join(self.dir, f) for f in names]

    def mark(self):
        return set(self.messages()), set(self.envs())

    def since(self, mark):
        """(new message paths, new hook environments as dicts of bytes)."""
        msgs = [m for m in self.messages() if m not in mark[0]]
        envs = []
        for p in self.envs():
            if p in mark[1]:
                continue
            with open(p, 'rb') as f:
                e = {}
                for kv in f.read().split(b'\0'):
                    if b'=' in kv:
                        k, v = kv.split(b'=', 1)
                        e[k.decode('ascii', 'replace')] = v
                envs.append(e)
        return msgs, envs


def read_file(p):
    with open(p, 'rb') as f:
        return f.read()


class BioConn:
    """TLS over a raw socket through memory BIOs: the first bytes of the
    ClientHello can be sent in the same write as something before them."""

    def __init__(self, sock, prefix=b''):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_context().wrap_bio(self.inc, self.out, server_side=False)
        self.buf = b''
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(prefix + self.out.read())
        self._pump(self.obj.do_handshake)

    def _pump(self, op, timeout=10):
        end = time.monotonic() + timeout
        while True:
            try:
                r = op()
                self._flush()
                return r
            except ssl.SSLWantReadError:
                self._flush()
                left = end - time.monotonic()
                if left <= 0:
                    raise socket.timeout('TLS timeout')
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError('EOF inside TLS')
                self.inc.write(data)

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def version(self):
        return self.obj.version()

    def sendall(self, data):
        self.obj.write(data)
        self._flush()

    def reply(self, timeout=10):
        text = ''
        while True:
            while b'\n' not in self.buf:
                self.buf += self._pump(lambda: self.obj.read(65536), timeout)
            line, self.buf = self.buf.split(b'\n', 1)
            l = (line + b'\n').decode('latin-1')
            text += l
            if not re.match(r'^\d{3}-', l):
                return text

    def cmd(self, line, timeout=10):
        self.sendall(line.encode() + b'\r\n')
        return self.reply(timeout)


def send_message(t, subject):
    """EHLO, MAIL, RCPT, DATA on a Lines/BioConn; the final reply."""
    t.cmd('EHLO client.test')
    r = t.cmd('MAIL FROM:<alice@example.org>')
    if not r or not r.startswith('250'):
        return r
    r = t.cmd('RCPT TO:<bob@example.org>')
    if not r or not r.startswith('250'):
        return r
    r = t.cmd('DATA')
    if not r or not r.startswith('354'):
        return r
    t.sendall(b'Subject: ' + subject.encode() + b'\r\n\r\nbody\r\n.\r\n')
    return t.reply()


SIG2 = b'\r\n\r\n\x00\r\nQUIT\n'


def v2_tcp4(src, dst, sport, dport):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!HH', sport, dport)
    return SIG2 + bytes([0x21, 0x11]) + struct.pack('!H', len(body)) + body


# ---------------------------------------------------------------------------
# The tests

U_FROM = 'jörg@bücher.example'
U_RCPT = 'δοκιμή@παράδειγμα.example'


def test_smtputf8(srv):
    mark = srv.mark()
    try:
        with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], local_hostname='client.test', timeout=10) as c:
            c.ehlo()
            ok(c.has_extn('smtputf8'), 'smtplib: the server advertises SMTPUTF8')
            # the message as UTF-8 bytes: smtplib sends a str message as ASCII
            refused = c.sendmail(U_FROM, [U_RCPT],
                                 ('Subject: smtplib utf8\r\nFrom: <%s>\r\n\r\nGrüße aus Python\r\n'
                                 % U_FROM).encode(), mail_options=['SMTPUTF8'])
            ok(refused == {}, 'smtplib: sendmail with SMTPUTF8 and a UTF-8 sender is accepted',
               repr(refused))
    except Exception:
        ok(False, 'smtplib: sendmail with SMTPUTF8', traceback.format_exc())
        return
    msgs, envs = srv.since(mark)
    ok(len(msgs) == 1, 'smtplib: one message stored')
    text = read_file(msgs[0]) if msgs else b''
    ok(re.match(rb'\AReceived: from client\.test \(\[127\.0\.0\.1\]\)\n\tby mx\.test \(Postern\) '
                rb'with UTF8SMTP id ', text), 'smtplib: Received says "with UTF8SMTP"', text[:300])
    ok(('\tfor <%s>;' % U_RCPT).encode() in text, 'smtplib: Received names the UTF-8 recipient')
    ok(text.endswith('\n\nGrüße aus Python\n'.encode()), 'smtplib: body stored', repr(text[-60:]))
    e = envs[0] if envs else {}
    ok(e.get('POSTERN_MAIL_FROM') == U_FROM.encode(), 'smtplib: POSTERN_MAIL_FROM has the exact UTF-8 bytes',
       repr(e.get('POSTERN_MAIL_FROM')))
    ok(e.get('POSTERN_RCPTS') == (U_RCPT + '\n').encode(), 'smtplib: POSTERN_RCPTS has the exact UTF-8 bytes',
       repr(e.get('POSTERN_RCPTS')))
    ok(e.get('POSTERN_SMTPUTF8') == b'1', 'smtplib: POSTERN_SMTPUTF8=1')

    # send_message() adds SMTPUTF8 (and BODY=8BITMIME) itself for such a message.
    mark = srv.mark()
    msg = EmailMessage()
    msg['From'] = U_FROM
    msg['To'] = U_RCPT
    msg['Subject'] = 'Grüße'
    msg.set_content('Καλημέρα\n')
    try:
        with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], local_hostname='client.test', timeout=10) as c:
            refused = c.send_message(msg)
            ok(refused == {}, 'smtplib: send_message of an internationalised message is accepted', repr(refused))
    except Exception:
        ok(False, 'smtplib: send_message', traceback.format_exc())
        return
    msgs, envs = srv.since(mark)
    e = envs[0] if envs else {}
    ok(len(msgs) == 1 and e.get('POSTERN_SMTPUTF8') == b'1' and e.get('POSTERN_BODY') == b'8BITMIME',
       'smtplib: send_message used SMTPUTF8 and BODY=8BITMIME', repr(e))
    ok(e.get('POSTERN_MAIL_FROM') == U_FROM.encode(), 'smtplib: send_message sender bytes exact')
    text = read_file(msgs[0]) if msgs else b''
    ok(('To: %s\n' % U_RCPT).encode() in text, 'smtplib: send_message: UTF-8 header stored raw', text[:400])


def test_proxy_tls(srv, header, what, addr, port, one_write=False):
    mark = srv.mark()
    raw = socket.create_connection(('127.0.0.1', srv.ports['pxtls']), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if one_write:
            t = BioConn(raw, prefix=header)
            version = t.version()
        else:
            raw.sendall(header)
            s = client_context().wrap_socket(raw)
            version = s.version()
            t = Lines(s)
            t.sendall = s.sendall
        ok(version in ('TLSv1.2', 'TLSv1.3'), '%s: TLS handshake after the plaintext header (%s)' % (what, version))
        g = t.reply()
        ok(g == '220 mx.test ESMTP Postern\r\n', '%s: the 220 greeting comes inside TLS' % what, repr(g))
        r = send_message(t, what)
        ok(r is not None and r.startswith('250 2.0.0 '), '%s: message accepted' % what, repr(r))
        t.cmd('QUIT')
    except Exception:
        ok(False, '%s: session' % what, traceback.format_exc())
    finally:
        raw.close()
    msgs, envs = srv.since(mark)
    e = envs[0] if envs else {}
    ok(e.get('POSTERN_CLIENT_ADDR') == addr.encode(), '%s: hook sees POSTERN_CLIENT_ADDR=%s' % (what, addr),
       repr(e.get('POSTERN_CLIENT_ADDR')))
    ok(e.get('POSTERN_CLIENT_PORT') == str(port).encode(), '%s: hook sees POSTERN_CLIENT_PORT=%d' % (what, port),
       repr(e.get('POSTERN_CLIENT_PORT')))
    ok(e.get('POSTERN_ENDPOINT') == b'pxtls' and e.get('POSTERN_TLS', b'') != b'',
       '%s: the hook sees the pxtls endpoint with TLS on' % what, repr((e.get('POSTERN_ENDPOINT'), e.get('POSTERN_TLS'))))
    text = read_file(msgs[0]) if msgs else b''
    ok(re.match(rb'\AReceived: from client\.test \(\[' + re.escape(addr.encode()) +
                rb'\]\)\n\tby mx\.test \(Postern\) with ESMTPS ', text),
       '%s: Received says [%s] with ESMTPS' % (what, addr), text[:300])


def test_tls_without_header(srv):
    """A ClientHello where the header should be: closed, no TLS, no greeting."""
    before = len(srv.log_text())
    raw = socket.create_connection(('127.0.0.1', srv.ports['pxtls']), timeout=10)
    t0 = time.monotonic()
    try:
        s = client_context().wrap_socket(raw)
        g = Lines(s).reply(5)
        ok(False, 'ClientHello without a PROXY header: the handshake fails', repr(g))
        s.close()
    except (ssl.SSLError, OSError) as e:
        ok(True, 'ClientHello without a PROXY header: the handshake fails (%s)' % type(e).__name__)
    finally:
        raw.close()
    ok(time.monotonic() - t0 < 6, 'ClientHello without a PROXY header: closed at once')
    m = srv.wait_log(r'proxy \[127\.0\.0\.1\]:\d+ on pxtls: expected a PROXY header', 5)
    ok(m is not None and m.start() >= before, 'ClientHello without a PROXY header: the log says why')


def main():
    serve_tests(Server, (
        (test_smtputf8,),
        (test_proxy_tls, b'PROXY TCP4 192.0.2.44 198.51.100.4 41000 465\r\n',
         'v1 header + implicit TLS', '192.0.2.44', 41000),
        (test_proxy_tls, v2_tcp4('192.0.2.45', '198.51.100.5', 41001, 465),
         'v2 header + implicit TLS', '192.0.2.45', 41001),
        (test_proxy_tls, b'PROXY TCP4 192.0.2.46 198.51.100.6 41002 465\r\n',
         'v1 header and ClientHello in one write', '192.0.2.46', 41002, True),
        (test_proxy_tls, v2_tcp4('192.0.2.47', '198.51.100.7', 41003, 465),
         'v2 header and ClientHello in one write', '192.0.2.47', 41003, True),
        (test_tls_without_header,),
    ))
    return TAP.done()


if __name__ == '__main__':
    run_main(main, 'certtool')
