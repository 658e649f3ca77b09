#!/usr/bin/env python3
# auth-python.py - SMTP AUTH from the client everyone scripts with:
# smtplib's login() over STARTTLS and over implicit TLS (SMTP_SSL), with
# PLAIN (its first choice), LOGIN with and without an initial response, a
# wrong password (535 5.7.8), no AUTH before STARTTLS, and the messages sent
# after login stored "with ESMTPSA".  The raw dialogues are in t/auth.t.
#
# Python 3 standard library only.  Prints TAP itself.  Starts its own
# posternd the way t/lib/Postern/Test.pm does (a temporary directory owned by
# nobody when root, certtool certificate, $POSTERN_BUILDDIR/posternd -f -d),
# with postern-passwd as the auth hook.
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

USER = 'pyuser'
PASSWORD = 'py th:on pass 42'   # smtplib encodes credentials as ASCII

_count = 0


def ok(cond, name, diag=None):
    global _count
    _count += 1
    name = name.replace('#', '\\#')
    print('%s %d - %s' % ('ok' if cond else 'not ok', _count, name))
    if not cond and diag:
        note(diag)
    sys.stdout.flush()
    return bool(cond)


def note(text):
    for line in str(text).splitlines():
        print('# ' + line)
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workdir():
    d = tempfile.mkdtemp(prefix='postern-test-auth-py-')
    os.chmod(d, 0o755)
    if IS_ROOT:
        try:
            os.chown(d, pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid)
        except KeyError:
            pass
    return d


def install(d, src):
    dst = shutil.copy(src, d)
    os.chmod(dst, 0o755)
    return dst


class Server:
    """posternd with submission (STARTTLS) and submissions (implicit TLS),
    both auth = required, checked by postern-passwd."""

    def __init__(self):
        self.dir = d = workdir()
        cert, key, tmpl = d + '/cert.pem', d + '/key.pem', d + '/cert.tmpl'
        with open(tmpl, 'w') as f:
            f.write('cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\n'
                    'expiration_days = 365\ntls_www_server\nsigning_key\nencryption_key\n')
        for cmd in (['certtool', '--generate-privkey', '--key-type=ecdsa', '--outfile', key],
                    ['certtool', '--generate-self-signed', '--load-privkey', key,
                     '--template', tmpl, '--outfile', cert]):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60, check=True)
        os.chmod(key, 0o600)
        hashed = subprocess.run(['mkpasswd', '-m', 'yescrypt', PASSWORD], capture_output=True,
                                text=True, timeout=30, check=True).stdout.strip()
        with open(d + '/passwd', 'w') as f:
            f.write('%s:%s\n' % (USER, hashed))
        os.chmod(d + '/passwd', 0o644)
        maildir = install(d, BUILDDIR + '/hooks/postern-maildir')
        passwd = install(d, BUILDDIR + '/hooks/postern-passwd')
        self.ports = {'submission': free_port(), 'submissions': free_port()}
        srv = {'hostname': 'mx.test', 'pidfile': d + '/posternd.pid', 'workers': 2,
               'min_spare': 1, 'max_spare': 4, 'spool_directory': d}
        if IS_ROOT:
            srv.update(user='nobody', group='nogroup')
        conf = {
            'server': srv,
            'tls': {'certificate': cert, 'key': key},
            'hooks': {'data': '%s %s/Maildir' % (maildir, d),
                      'auth': '%s %s/passwd' % (passwd, d)},
            'submission': {'listen': '127.0.0.1:%d' % self.ports['submission'],
                           'tls': 'starttls', 'auth': 'required'},
            'submissions': {'listen': '127.0.0.1:%d' % self.ports['submissions'],
                            'tls': 'implicit', 'auth': 'required'},
        }
        order = {'server': 0, 'limits': 1, 'tls': 2, 'hooks': 3}
        with open(d + '/postern.conf', 'w') as f:
            for sec in sorted(conf, key=lambda s: (order.get(s, 9), s)):
                f.write('[%s]\n' % sec)
                for k in sorted(conf[sec]):
                    f.write('%s = %s\n' % (k, conf[sec][k]))
        self.logfile = d + '/posternd.log'
        self.log = open(self.logfile, 'ab')
        self.proc = subprocess.Popen([BUILDDIR + '/posternd', '-f', '-d', '-c', d + '/postern.conf'],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
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

    def message(self, subject):
        d = self.dir + '/Maildir/new'
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return ''
        for n in names:
            with open(os.path.join(d, n), 'rb') as f:
                text = f.read().decode('latin-1')
            if re.search(r'^Subject: %s$' % re.escape(subject), text, re.M):
                return text
        return ''

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                note('posternd %d did not stop: killing it' % self.proc.pid)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if check:
            bad = [l for l in self.log_text().splitlines()
                   if re.search(r'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer', l)]
            ok(not bad, 'no sanitizer report in the server log', '\n'.join(bad[:6]))
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send(c, subject):
    return c.sendmail('%s@example.org' % USER, ['dest@example.org'],
                      ('Subject: %s\r\n\r\nbody\r\n' % subject).encode())


def starttls_session(srv):
    c = smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=10)
    c.ehlo('client.test')
    c.starttls(context=context())
    c.ehlo('client.test')
    return c


# ---------------------------------------------------------------------------

def test_starttls(srv):
    with smtplib.SMTP('127.0.0.1', srv.ports['submission'], timeout=10) as c:
        c.ehlo('client.test')
        ok(c.has_extn('starttls') and not c.has_extn('auth'),
           'before STARTTLS: STARTTLS offered, AUTH not', c.esmtp_features)
        try:
            c.login(USER, PASSWORD)
            ok(False, 'login() before STARTTLS fails')
        except smtplib.SMTPNotSupportedError:
            ok(True, 'login() before STARTTLS fails: AUTH is not offered')
        c.starttls(context=context())
        code, _ = c.ehlo('client.test')
        ok(c.esmtp_features.get('auth', '').split() == ['PLAIN', 'LOGIN'],
           'after STARTTLS: AUTH PLAIN LOGIN', c.esmtp_features)
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235 and msg.startswith(b'2.7.0'), 'smtplib login() over STARTTLS (PLAIN): 235 2.7.0',
           (code, msg))
        ok(send(c, 'py starttls plain') == {}, 'message accepted after login()')
    ok(re.search(r'^\tby mx\.test \(Postern\) with ESMTPSA \(', srv.message('py starttls plain'), re.M),
       'Received says ESMTPSA', srv.message('py starttls plain')[:300])


def test_login_mechanism(srv):
    for initial in (True, False):
        what = 'with' if initial else 'without'
        with starttls_session(srv) as c:
            c.user, c.password = USER, PASSWORD
            code, msg = c.auth('LOGIN', c.auth_login, initial_response_ok=initial)
            ok(code == 235 and msg.startswith(b'2.7.0'),
               'smtplib auth(LOGIN) %s an initial response: 235 2.7.0' % what, (code, msg))
    with starttls_session(srv) as c:
        c.esmtp_features['auth'] = 'LOGIN'      # make login() choose LOGIN
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235, 'smtplib login() choosing LOGIN: 235', (code, msg))


def test_wrong_password(srv):
    with starttls_session(srv) as c:
        try:
            c.login(USER, PASSWORD + 'x')
            ok(False, 'login() with a wrong password raises SMTPAuthenticationError')
        except smtplib.SMTPAuthenticationError as e:
            ok(e.smtp_code == 535 and e.smtp_error.startswith(b'5.7.8'),
               'login() with a wrong password: 535 5.7.8', (e.smtp_code, e.smtp_error))
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235, 'then the right password: 235', (code, msg))


def test_smtp_ssl(srv):
    with smtplib.SMTP_SSL('127.0.0.1', srv.ports['submissions'], context=context(), timeout=10) as c:
        c.ehlo('client.test')
        ok(c.has_extn('auth'), 'SMTP_SSL: EHLO offers AUTH', c.esmtp_features)
        code, msg = c.login(USER, PASSWORD)
        ok(code == 235 and msg.startswith(b'2.7.0'), 'smtplib login() over SMTP_SSL: 235 2.7.0', (code, msg))
        ok(send(c, 'py smtp_ssl') == {}, 'SMTP_SSL: message accepted after login()')
    ok(re.search(r'^\tby mx\.test \(Postern\) with ESMTPSA \(', srv.message('py smtp_ssl'), re.M),
       'SMTP_SSL: Received says ESMTPSA', srv.message('py smtp_ssl')[:300])


def main():
    srv = None
    try:
        srv = Server()
        for fn in (test_starttls, test_login_mechanism, test_wrong_password, test_smtp_ssl):
            try:
                fn(srv)
            except Exception:
                ok(False, '%s did not crash' % fn.__name__, traceback.format_exc())
        log = srv.log_text()
        ok('auth: user=%s mechanism=PLAIN result=ok' % USER in log, 'a PLAIN success is logged with the user name')
        ok('auth: user=%s mechanism=LOGIN result=ok' % USER in log, 'the LOGIN logins did use LOGIN')
        ok(PASSWORD not in log, 'the password is not in the log')
    except Exception:
        ok(False, 'start posternd', traceback.format_exc())
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    print('1..%d' % _count)
    return 0


if __name__ == '__main__':
    if not os.access(BUILDDIR + '/posternd', os.X_OK):
        print('1..0 # SKIP no posternd in %s' % BUILDDIR)
        sys.exit(0)
    for tool in ('certtool', 'mkpasswd'):
        if shutil.which(tool) is None:
            print('1..0 # SKIP %s is not installed' % tool)
            sys.exit(0)
    sys.exit(main())
