#!/usr/bin/env python3
# tls-python.py - the parts of the TLS tests that need a TLS client able to
# take over a raw socket at an exact byte, or to save and reuse sessions:
#
#   - implicit TLS (RFC 8314) with smtplib.SMTP_SSL: the greeting comes
#     inside TLS and a message is delivered;
#   - STARTTLS command injection (CVE-2011-0411, RFC 3207 section 4.2):
#     plaintext pipelined after STARTTLS is never answered inside TLS;
#   - session resumption (TLS 1.3 and TLS 1.2 tickets) across workers;
#   - SIGHUP reload with a new certificate, and a failed reload that keeps
#     the old one.
#
# Python 3 standard library only.  Prints TAP itself.  Starts its own
# posternd the way t/lib/Postern/Test.pm does: a temporary directory (0755,
# owned by nobody:nogroup when root), postern-maildir copied into it,
# certtool certificates with the key 0600, $POSTERN_BUILDDIR/posternd -f -d.
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

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
    """A self-signed ECDSA certificate made with certtool: (cert, key)."""
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


class Server:
    """posternd with endpoints smtp (starttls) and smtps (implicit)."""

    def __init__(self, server=None, certs=(('server', 'localhost'),)):
        self.dir = workdir()
        self.certs = {}
        for name, cn in certs:
            self.certs[name] = make_cert(self.dir, name, cn)
        maildir_hook = shutil.copy(BUILDDIR + '/hooks/postern-maildir', self.dir)
        os.chmod(maildir_hook, 0o755)
        self.ports = {'smtp': free_port(), 'smtps': free_port()}
        srv = {'hostname': 'mx.test', 'pidfile': self.dir + '/posternd.pid',
               'workers': 2, 'min_spare': 1, 'max_spare': 4,
               'spool_directory': self.dir}
        if IS_ROOT:
            srv.update(user='nobody', group='nogroup')
        srv.update(server or {})
        cert, key = self.certs[certs[0][0]]
        self.conf = {
            'server': srv,
            'tls': {'certificate': cert, 'key': key},
            'hooks': {'data': '%s %s/Maildir' % (maildir_hook, self.dir)},
            'smtp': {'listen': '127.0.0.1:%d' % self.ports['smtp'], 'tls': 'starttls'},
            'smtps': {'listen': '127.0.0.1:%d' % self.ports['smtps'], 'tls': 'implicit'},
        }
        self.conffile = self.dir + '/postern.conf'
        self.write_conf()
        self.logfile = self.dir + '/posternd.log'
        self.log = open(self.logfile, 'ab')
        self.proc = subprocess.Popen([BUILDDIR + '/posternd', '-f', '-d', '-c', self.conffile],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        if not self.wait_ready():
            self.stop(check=False)
            raise RuntimeError('posternd did not start; log:\n' + self.log_text())

    def write_conf(self):
        tmp = self.conffile + '.tmp'
        with open(tmp, 'w') as f:
            f.write(ini(self.conf))
        os.rename(tmp, self.conffile)

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

    def wait_log(self, regex, timeout=10, count=1):
        """Wait until REGEX matches COUNT times in the log; the last match."""
        end = time.monotonic() + timeout
        while True:
            found = list(re.finditer(regex, self.log_text(), re.M))
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > end:
                return None
            time.sleep(0.05)

    def messages(self):
        d = self.dir + '/Maildir/new'
        try:
            return sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith('.'))
        except OSError:
            return []

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


# ---------------------------------------------------------------------------
# Clients

def client_context(maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class Lines:
    """Read CRLF lines from a socket (plain or TLS) without reading past the
    line asked for when unbuffered (one byte at a time)."""

    def __init__(self, sock, unbuffered=False):
        self.sock = sock
        self.buf = b''
        self.unbuffered = unbuffered

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        while b'\n' not in self.buf:
            try:
                chunk = self.sock.recv(1 if self.unbuffered else 65536)
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


def tls_connect(port, ctx=None, session=None):
    raw = socket.create_connection(('127.0.0.1', port), timeout=10)
    local_port = raw.getsockname()[1]
    s = (ctx or client_context()).wrap_socket(raw, session=session)
    return s, local_port


def worker_of(srv, local_port, endpoint):
    """The pid of the worker that logged the connection from LOCAL_PORT."""
    m = srv.wait_log(r'posternd\[(\d+)\]: \S+: connect from \[127\.0\.0\.1\]:%d to %s$'
                     % (local_port, endpoint), timeout=5)
    return int(m.group(1)) if m else None


def peer_der(port):
    s, _ = tls_connect(port)
    try:
        der = s.getpeercert(binary_form=True)
        greeting = Lines(s).reply()
        return der, greeting
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The tests

def test_implicit(srv):
    before = len(srv.messages())
    try:
        with smtplib.SMTP_SSL('127.0.0.1', srv.ports['smtps'], context=client_context(),
                              timeout=10) as c:
            # The 220 greeting was read by connect(), through the TLS layer.
            code, msg = c.docmd('NOOP')
            ok(code == 250, 'SMTP_SSL: a command inside TLS gets 250')
            ok(isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in ('TLSv1.3', 'TLSv1.2'),
               'SMTP_SSL: the socket speaks TLS (%s)' % getattr(c.sock, 'version', lambda: None)())
            code, msg = c.ehlo('client.test')
            ok(code == 250 and b'STARTTLS' not in msg,
               'SMTP_SSL: EHLO on the implicit-TLS port does not offer STARTTLS', msg)
            refused = c.sendmail('alice@example.org', ['bob@example.org'],
                                 b'Subject: smtp_ssl\r\n\r\nimplicit TLS body\r\n')
            ok(refused == {}, 'SMTP_SSL: message accepted')
    except Exception as e:
        ok(False, 'SMTP_SSL session', traceback.format_exc())
        return
    msgs = srv.messages()
    ok(len(msgs) == before + 1, 'SMTP_SSL: one more message in the Maildir')
    text = open(msgs[-1], 'rb').read().decode('latin-1') if msgs else ''
    ok(re.search(r'^Subject: smtp_ssl$', text, re.M) and 'implicit TLS body' in text,
       'SMTP_SSL: stored message has the subject and body')
    ok(re.search(r'\A[^\n]*\n\tby mx\.test \(Postern\) with ESMTPS \(TLS1\.[23] TLS_\S+\) id ', text),
       'SMTP_SSL: Received says ESMTPS with the protocol and cipher suite', text[:300])

    # The greeting itself: read through our own TLS socket, and not before.
    raw = socket.create_connection(('127.0.0.1', srv.ports['smtps']), timeout=10)
    raw.settimeout(1.0)
    try:
        early = raw.recv(100)
    except socket.timeout:
        early = None
    ok(early is None, 'implicit TLS: nothing is sent in plaintext before the ClientHello', repr(early))
    s = client_context().wrap_socket(raw)
    g = Lines(s).reply()
    ok(g == '220 mx.test ESMTP Postern\r\n', 'implicit TLS: the 220 greeting arrives inside TLS', repr(g))
    s.close()


def test_injection(srv, injected, name):
    """RFC 3207 4.2 / CVE-2011-0411: INJECTED is sent in the same write as
    STARTTLS; it must be thrown away, not executed inside TLS."""
    raw = socket.create_connection(('127.0.0.1', srv.ports['smtp']), timeout=10)
    local_port = raw.getsockname()[1]
    p = Lines(raw, unbuffered=True)
    g = p.reply()
    e = p.cmd('EHLO client.test')
    if not ok(g and g.startswith('220 ') and e and 'STARTTLS' in e,
              '%s: plaintext greeting and EHLO offer STARTTLS' % name, repr((g, e))):
        raw.close()
        return
    raw.sendall(b'STARTTLS\r\n' + injected)
    r = p.line()
    ok(r is not None and r.startswith('220 2.0.0'), '%s: STARTTLS gets 220 2.0.0' % name, repr(r))
    # Nothing else in plaintext (say, a reply to the injected command).
    raw.settimeout(0.3)
    try:
        extra = raw.recv(100, socket.MSG_PEEK)
    except socket.timeout:
        extra = b''
    raw.settimeout(10)
    ok(extra == b'' and p.buf == b'', '%s: no plaintext reply after the 220' % name, repr(extra))
    try:
        s = client_context().wrap_socket(raw)
    except Exception:
        ok(False, '%s: TLS handshake on the same socket' % name, traceback.format_exc())
        raw.close()
        return
    t = Lines(s)
    s.sendall(b'EHLO client.test\r\n')
    first = t.line()
    ok(first == '250-mx.test\r\n',
       '%s: the first reply inside TLS is the EHLO reply (not one for the injected command)' % name,
       repr(first))
    rest = t.reply() if first is not None and first.startswith('250-') else ''
    ok(rest is not None and 'STARTTLS' not in rest and rest.endswith('250 ENHANCEDSTATUSCODES\r\n'),
       '%s: the EHLO reply inside TLS is whole and has no STARTTLS' % name, repr(rest))
    r = t.cmd('NOOP')
    ok(r == '250 2.0.0 Ok\r\n', '%s: the next reply belongs to the next command (NOOP)' % name, repr(r))
    r = t.cmd('RCPT TO:<bob@example.org>')
    ok(r is not None and r.startswith('503 5.5.1'),
       '%s: no transaction was started by injected text (RCPT gets 503)' % name, repr(r))
    r = t.cmd('QUIT')
    ok(r is not None and r.startswith('221 '), '%s: QUIT gets 221' % name, repr(r))
    s.close()
    m = srv.wait_log(r'^.*posternd\[(\d+)\]: (\S+): connect from \[127\.0\.0\.1\]:%d to smtp$' % local_port)
    sess = m.group(2) if m else 'NOSESSION'
    m = srv.wait_log(r'%s: discarding (\d+) bytes of plaintext pipelined after STARTTLS' % sess)
    ok(m is not None and int(m.group(1)) == len(injected),
       '%s: the log says %d bytes of plaintext were discarded' % (name, len(injected)),
       m.group(0) if m else srv.log_text()[-2000:])
    ok(not re.search(r'%s: < (RSET|MAIL)' % sess, srv.log_text()),
       '%s: the injected command was never read as a command' % name)


def test_resumption(srv, maximum, label):
    ctx = client_context(maximum)
    s, _ = tls_connect(srv.ports['smtps'], ctx)
    t = Lines(s)
    g = t.reply()
    e = t.cmd('EHLO client.test')       # the TLS 1.3 ticket has arrived by now
    version = s.version()
    session = s.session
    t.cmd('QUIT')
    s.close()
    ok(g and g.startswith('220 ') and e and e.startswith('250-') and session is not None,
       '%s: first connection (%s) has a session to resume' % (label, version), repr((g, e)))
    if session is None:
        return
    reused, workers, fails = 0, set(), []
    # In pairs, the first kept open while the second connects: two sessions
    # at once need two workers.
    for i in range(5):
        pair = []
        for j in range(2):
            try:
                s, lp = tls_connect(srv.ports['smtps'], ctx, session=session)
                t = Lines(s)
                g = t.reply()
                pair.append((s, t, lp))
                if s.session_reused and g and g.startswith('220 '):
                    reused += 1
                else:
                    fails.append('connection %d: reused=%s greeting=%r' % (2 * i + j, s.session_reused, g))
            except Exception as ex:
                fails.append('connection %d: %r' % (2 * i + j, ex))
        for s, t, lp in pair:
            t.cmd('QUIT')
            s.close()
            w = worker_of(srv, lp, 'smtps')
            if w is not None:
                workers.add(w)
    ok(reused == 10, '%s: all 10 later connections resumed the session (%d did)' % (label, reused),
       '\n'.join(fails))
    ok(len(workers) >= 2, '%s: the resumed sessions were served by %d different workers'
       % (label, len(workers)), repr(workers))


def children(pid):
    """Pids of the processes whose parent is PID."""
    kids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        m = re.match(r'^\d+ \(.*\) \S+ (\d+)', stat, re.S)
        if m and int(m.group(1)) == pid:
            kids.append(int(d))
    return set(kids)


def settle(srv, n=2, timeout=10):
    """Wait until the master has at least N workers, all idle."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = children(srv.pid)
        titles = []
        for k in kids:
            try:
                with open('/proc/%d/cmdline' % k, 'rb') as f:
                    titles.append(f.read())
            except OSError:
                titles.append(b'')
        if len(kids) >= n and all(t.startswith(b'posternd: worker idle') for t in titles):
            return True
        time.sleep(0.02)
    return False


def wait_gone(pids, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = {p for p in pids if os.path.exists('/proc/%d' % p)
                and not open('/proc/%d/stat' % p).read().split(') ')[-1].startswith('Z')}
        if not left:
            return set()
        time.sleep(0.02)
    return left


def stale_workers(srv):
    """Children of the master that were started before the last successful
    reload (they should all have finished and exited)."""
    log = srv.log_text()
    last = log.rfind('configuration reloaded')
    before = set(int(x) for x in re.findall(r'pool: started worker (\d+)', log[:last]))
    return children(srv.pid) & before


def set_cert(srv, name):
    srv.conf['tls'] = {'certificate': srv.certs[name][0], 'key': srv.certs[name][1]}
    srv.write_conf()


def test_reload():
    srv = Server(certs=(('a', 'alpha'), ('b', 'beta'), ('c', 'gamma')))
    try:
        ok(settle(srv), 'reload: the pool has started and is idle')
        der, g = peer_der(srv.ports['smtps'])
        ok(b'alpha' in der and b'beta' not in der and g and g.startswith('220 '),
           'reload: first the server presents certificate A (CN alpha)')
        old = children(srv.pid)
        set_cert(srv, 'b')
        os.kill(srv.pid, signal.SIGHUP)
        ok(srv.wait_log(r'configuration reloaded') is not None, 'reload: SIGHUP reloads the configuration',
           srv.log_text()[-2000:])
        left = wait_gone(old)
        ok(not left, 'reload: the idle workers of the old configuration exit', repr(left))
        seen = [peer_der(srv.ports['smtps']) for _ in range(4)]
        ok(all(b'beta' in der and b'alpha' not in der and g and g.startswith('220 ') for der, g in seen),
           'reload: new connections get certificate B (CN beta)')
        # STARTTLS uses the same credentials.
        try:
            with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=10) as c:
                c.starttls(context=client_context())
                der = c.sock.getpeercert(binary_form=True)
                ok(b'beta' in der, 'reload: STARTTLS also presents certificate B')
        except Exception:
            ok(False, 'reload: STARTTLS also presents certificate B', traceback.format_exc())

        srv.conf['tls'] = {'certificate': srv.dir + '/missing-cert.pem', 'key': srv.certs['b'][1]}
        srv.write_conf()
        os.kill(srv.pid, signal.SIGHUP)
        m = srv.wait_log(r'^.*reload failed.*$')
        ok(m is not None and 'missing-cert.pem' in m.group(0),
           'reload: a missing certificate makes the reload fail, naming the file',
           m.group(0) if m else srv.log_text()[-2000:])
        ok(srv.proc.poll() is None, 'reload: the server is still running after a failed reload')
        seen = [peer_der(srv.ports['smtps']) for _ in range(4)]
        ok(all(b'beta' in der and g and g.startswith('220 ') for der, g in seen),
           'reload: after the failed reload new connections still get certificate B')
        ok(len(re.findall(r'configuration reloaded', srv.log_text())) == 1,
           'reload: the failed reload did not report success')

        # Reloads in quick succession (say, a configuration tool sending
        # SIGHUP twice): the second one retires workers that the first one
        # has just forked.  Afterwards every worker must belong to the last
        # configuration, and every connection must get its certificate.
        ok(settle(srv), 'rapid reloads: the pool is idle before')
        gaps = (0.003, 0.002, 0.001, 0.005, 0.0)
        for rnd in range(20):
            n = len(re.findall(r'configuration reloaded', srv.log_text()))
            set_cert(srv, 'b')
            os.kill(srv.pid, signal.SIGHUP)
            time.sleep(gaps[rnd % len(gaps)])   # the point: a reload while workers start
            set_cert(srv, 'c')
            os.kill(srv.pid, signal.SIGHUP)
            srv.wait_log(r'configuration reloaded', count=n + 1)
            srv.wait_log(r'configuration reloaded', count=n + 2, timeout=0.5)   # unless coalesced
            end = time.monotonic() + 0.5
            while stale_workers(srv) and time.monotonic() < end:
                time.sleep(0.02)
            if stale_workers(srv):
                break               # one is left over: no need to go on
        note('rapid reloads: %d rounds' % (rnd + 1))
        left = set()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            left = stale_workers(srv)
            if not left:
                break
            time.sleep(0.05)
        ok(not left, 'rapid reloads: every worker left belongs to the last configuration',
           'workers of an earlier configuration still running 5 s after the last reload: %r\n%s'
           % (sorted(left), '\n'.join(l for l in srv.log_text().splitlines()
                                       if any('worker %d ' % p in l + ' ' for p in left))))
        seen = [peer_der(srv.ports['smtps'])[0] for _ in range(10)]
        bad = [i for i, der in enumerate(seen) if b'gamma' not in der]
        ok(not bad, 'rapid reloads: all 10 new connections get the last certificate (CN gamma)',
           'connections %r got another certificate (%s)' % (
               bad, ', '.join('beta' if b'beta' in seen[i] else 'alpha' if b'alpha' in seen[i] else '?'
                              for i in bad)))
    finally:
        ok(srv.stop() == 0, 'reload server: posternd exits 0 on SIGTERM')


def main():
    srv = None
    try:
        srv = Server()
        for fn, args in ((test_implicit, (srv,)),
                         (test_injection, (srv, b'RSET\r\n', 'injected RSET')),
                         (test_injection, (srv, b'MAIL FROM:<x@y>\r\n', 'injected MAIL')),
                         (test_resumption, (srv, None, 'TLS 1.3 resumption')),
                         (test_resumption, (srv, ssl.TLSVersion.TLSv1_2, 'TLS 1.2 resumption'))):
            try:
                fn(*args)
            except Exception:
                ok(False, '%s did not crash' % fn.__name__, traceback.format_exc())
    except Exception:
        ok(False, 'start posternd', traceback.format_exc())
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    try:
        test_reload()
    except Exception:
        ok(False, 'test_reload did not crash', traceback.format_exc())
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
