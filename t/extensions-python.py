#!/usr/bin/env python3
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
# Python 3 standard library only.  Prints TAP itself.  Starts its own
# posternd the way t/lib/Postern/Test.pm does.
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from email.message import EmailMessage

BUILDDIR = os.environ.get('POSTERN_BUILDDIR') or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
IS_ROOT = os.geteuid() == 0

# ---------------------------------------------------------------------------
# TAP

_count = 0
_failed = 0


def ok(cond, name, diag=None):
    global _count, _failed
    _count += 1
    name = name.replace('#', '\\#')
    if cond:
        print('ok %d - %s' % (_count, name))
    else:
        _failed += 1
        print('not ok %d - %s' % (_count, name))
        if diag:
            note(diag)
    sys.stdout.flush()
    return bool(cond)


def note(text):
    for line in str(text).splitlines():
        print('# ' + line)
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# The server

def free_port():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workdir():
    d = tempfile.mkdtemp(prefix='postern-test-py-')
    os.chmod(d, 0o755)
    if IS_ROOT:
        try:
            os.chown(d, pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid)
        except KeyError:
            pass
    return d


def make_cert(d, name='server', cn='localhost'):
    cert, key, tmpl = ('%s/%s-cert.pem' % (d, name), '%s/%s-key.pem' % (d, name),
                       '%s/%s.tmpl' % (d, name))
    with open(tmpl, 'w') as f:
        f.write('cn = %s\ndns_name = localhost\nip_address = 127.0.0.1\n'
                'expiration_days = 365\ntls_www_server\nsigning_key\nencryption_key\n' % cn)
    for cmd in (['certtool', '--generate-privkey', '--key-type=ecdsa', '--outfile', key],
                ['certtool', '--generate-self-signed', '--load-privkey', key,
                 '--template', tmpl, '--outfile', cert]):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise RuntimeError('%s failed (is gnutls-bin installed?)' % ' '.join(cmd[:2]))
    os.chmod(key, 0o600)
    return cert, key


def ini(conf):
    order = {'server': 0, 'limits': 1, 'tls': 2, 'hooks': 3}
    out = ''
    for sec in sorted(conf, key=lambda s: (order.get(s, 9), s)):
        out += '[%s]\n' % sec
        for k in sorted(conf[sec]):
            out += '%s = %s\n' % (k, conf[sec][k])
    return out


def write_script(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)


class Server:
    """posternd with endpoints smtp (plain) and pxtls (implicit TLS behind
    a PROXY protocol header from 127.0.0.1); a data hook that records its
    environment (env -0 into DIR/denv.NS.PID) and stores into DIR/Maildir."""

    def __init__(self):
        self.dir = workdir()
        cert, key = make_cert(self.dir)
        maildir_hook = shutil.copy(BUILDDIR + '/hooks/postern-maildir', self.dir)
        os.chmod(maildir_hook, 0o755)
        d = self.dir
        write_script(d + '/datahook',
                     '#!/bin/sh\nenv -0 > %s/.denv.$$\nmv %s/.denv.$$ %s/denv.$(date +%%s%%N).$$\n'
                     'exec %s %s/Maildir\n' % (d, d, d, maildir_hook, d))
        self.ports = {'smtp': free_port(), 'pxtls': free_port()}
        srv = {'hostname': 'mx.test', 'pidfile': d + '/posternd.pid',
               'workers': 2, 'min_spare': 1, 'max_spare': 4, 'spool_directory': d}
        if IS_ROOT:
            srv.update(user='nobody', group='nogroup')
        self.conf = {
            'server': srv,
            'limits': {'command_timeout': 3},
            'tls': {'certificate': cert, 'key': key},
            'hooks': {'data': d + '/datahook'},
            'smtp': {'listen': '127.0.0.1:%d' % self.ports['smtp']},
            'pxtls': {'listen': '127.0.0.1:%d' % self.ports['pxtls'], 'tls': 'implicit',
                      'proxy_protocol': 'yes', 'proxy_trusted': '127.0.0.1/32'},
        }
        self.conffile = d + '/postern.conf'
        with open(self.conffile, 'w') as f:
            f.write(ini(self.conf))
        self.logfile = d + '/posternd.log'
        self.log = open(self.logfile, 'ab')
        self.proc = subprocess.Popen([BUILDDIR + '/posternd', '-f', '-d', '-c', self.conffile],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        if not self.wait_ready():
            self.stop(check=False)
            raise RuntimeError('posternd did not start; log:\n' + self.log_text())

    def wait_ready(self, timeout=20):
        end = time.monotonic() + timeout
        for port in self.ports.values():
            while True:
                if self.proc.poll() is not None:
                    return False
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        return False
                    time.sleep(0.02)
        return True

    def log_text(self):
        try:
            with open(self.logfile, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, regex, timeout=10):
        end = time.monotonic() + timeout
        while True:
            m = re.search(regex, self.log_text(), re.M)
            if m or time.monotonic() > end:
                return m
            time.sleep(0.05)

    def messages(self):
        d = self.dir + '/Maildir/new'
        try:
            return sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith('.'))
        except OSError:
            return []

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

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                note('posternd %d did not stop: killing it' % self.pid)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if check:
            bad = [l for l in self.log_text().splitlines()
                   if re.search(r'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer', l)]
            ok(not bad, 'no sanitizer report in the server log', '\n'.join(bad[:6]))
        return self.proc.returncode


def read_file(p):
    with open(p, 'rb') as f:
        return f.read()


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Lines:
    """CRLF lines and SMTP replies over a socket (plain or TLS)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        while b'\n' not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return (line + b'\n').decode('latin-1')

    def reply(self, timeout=10):
        text = ''
        while True:
            l = self.line(timeout)
            if l is None:
                return text or None
            text += l
            if not re.match(r'^\d{3}-', l):
                return text

    def cmd(self, line, timeout=10):
        self.sock.sendall(line.encode() + b'\r\n')
        return self.reply(timeout)


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
    srv = None
    try:
        srv = Server()
        tests = (
            (test_smtputf8, (srv,)),
            (test_proxy_tls, (srv, b'PROXY TCP4 192.0.2.44 198.51.100.4 41000 465\r\n',
                              'v1 header + implicit TLS', '192.0.2.44', 41000)),
            (test_proxy_tls, (srv, v2_tcp4('192.0.2.45', '198.51.100.5', 41001, 465),
                              'v2 header + implicit TLS', '192.0.2.45', 41001)),
            (test_proxy_tls, (srv, b'PROXY TCP4 192.0.2.46 198.51.100.6 41002 465\r\n',
                              'v1 header and ClientHello in one write', '192.0.2.46', 41002, True)),
            (test_proxy_tls, (srv, v2_tcp4('192.0.2.47', '198.51.100.7', 41003, 465),
                              'v2 header and ClientHello in one write', '192.0.2.47', 41003, True)),
            (test_tls_without_header, (srv,)),
        )
        for fn, args in tests:
            try:
                fn(*args)
            except Exception:
                ok(False, '%s did not crash' % fn.__name__, traceback.format_exc())
    except Exception:
        ok(False, 'start posternd', traceback.format_exc())
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
            shutil.rmtree(srv.dir, ignore_errors=True)
    print('1..%d' % _count)
    return 0


if __name__ == '__main__':
    if not os.access(BUILDDIR + '/posternd', os.X_OK):
        print('1..0 # SKIP no posternd in %s' % BUILDDIR)
        sys.exit(0)
    if shutil.which('certtool') is None:
        print('1..0 # SKIP certtool (gnutls-bin) is not installed')
        sys.exit(0)
    sys.exit(main())
