# SPDX-License-Identifier: ISC
"""postern_test - start posternd for a Python test, and print TAP.

The Python counterpart of t/lib/Postern/Test.pm:

    from postern_test import TAP, Server
    ok, note = TAP.ok, TAP.diag
    with Server(config={'limits': {'max_errors': 3}}) as srv:
        srv.ports['smtp']           # a free loopback port per endpoint
        srv.messages()              # files in the Maildir's new/
    # leaving the block: SIGTERM, reap, one test that the log has no
    # sanitizer report
    sys.exit(TAP.done())            # prints the plan

Every server listens on free loopback ports, runs from its own temporary
directory (0755, owned by nobody:nogroup when root; removed at exit unless
POSTERN_TEST_KEEP is set), and is stopped by PID.  When the test runs as
root, workers run as "nobody".

Python 3 standard library only.
"""
import atexit
import fcntl
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = ['BUILDDIR', 'IS_ROOT', 'Tap', 'TAP', 'serve_tests', 'run_main', 'Server', 'free_port', 'listening', 'wait_listening', 'workdir',
           'nobody_ids', 'missing', 'install_program', 'write_script', 'make_cert', 'ini', 'children',
           'alive', 'remove_workdirs', 'client_context', 'Lines', 'SANITIZER_RE']

BUILDDIR = os.environ.get('POSTERN_BUILDDIR') or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
IS_ROOT = os.geteuid() == 0
SANITIZER_RE = r'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer'


# ---------------------------------------------------------------------------
# TAP

class Tap:
    """A TAP printer: numbered ok/not ok lines, diagnostics, the plan last."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.count = 0
        self.failed = 0

    def _print(self, line):
        print(line, file=self.out)
        self.out.flush()

    def ok(self, cond, name, diag=None):
        """One test: COND true passes; DIAG (any object) is shown on failure."""
        self.count += 1
        name = str(name).replace('#', '\\#')
        if cond:
            self._print('ok %d - %s' % (self.count, name))
        else:
            self.failed += 1
            self._print('not ok %d - %s' % (self.count, name))
            if diag:
                self.diag(diag)
        return bool(cond)

    def is_(self, got, want, name):
        """One test: GOT == WANT, both shown on failure."""
        return self.ok(got == want, name, 'got:  %r\nwant: %r' % (got, want))

    def diag(self, text):
        """Comment lines ("# ...") for TEXT."""
        for line in str(text).splitlines():
            self._print('# ' + line)

    note = diag

    def skip(self, name, why):
        """One skipped test."""
        self.count += 1
        self._print('ok %d - %s # SKIP %s' % (self.count, name, why))

    def run(self, fn, *args):
        """Call FN(*ARGS); an exception in it is one failed test (named after
        FN, with the traceback) instead of the end of the test file."""
        try:
            return fn(*args)
        except Exception:       # noqa: BLE001 - a failure, with the traceback
            self.ok(False, '%s did not crash' % fn.__name__, traceback.format_exc())
            return None

    def skip_all(self, why):
        """The plan of a test that runs nothing; returns the exit code (0)."""
        self._print('1..0 # SKIP %s' % why)
        return 0

    def done(self):
        """Print the plan; returns the exit code (1 when a test failed)."""
        self._print('1..%d' % self.count)
        return 1 if self.failed else 0


TAP = Tap()


def serve_tests(start, tests):
    """Start a server with START(), run TESTS ((fn, arg...) tuples, each
    called as fn(srv, arg...) through TAP.run), then stop it: a failed start
    is one failing test "start posternd"; the stop adds the sanitizer test
    and a test that posternd exits 0 on SIGTERM."""
    srv = None
    try:
        srv = start()
        for fn, *args in tests:
            TAP.run(fn, srv, *args)
    except Exception:       # noqa: BLE001 - a failure, with the traceback
        TAP.ok(False, 'start posternd', traceback.format_exc())
    finally:
        if srv is not None:
            TAP.ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')


def run_main(main, *tools):
    """Exit with MAIN()'s status, or skip the whole test file when
    missing(*TOOLS) says why it cannot run here."""
    why = missing(*tools)
    sys.exit(TAP.skip_all(why) if why else main())


# ---------------------------------------------------------------------------
# Files, directories, processes

def missing(*tools):
    """Why a test cannot run here (no posternd built, or one of TOOLS not
    on PATH), or None."""
    if not os.access(BUILDDIR + '/posternd', os.X_OK):
        return 'no posternd in %s' % BUILDDIR
    for tool in tools:
        if shutil.which(tool) is None:
            return '%s is not installed' % ('certtool (gnutls-bin)' if tool == 'certtool' else tool)
    return None


_workdirs = []


def remove_workdirs():
    """Remove the temporary directories made by workdir() (kept, and named,
    when POSTERN_TEST_KEEP or FAULTS_KEEP is set)."""
    if os.environ.get('POSTERN_TEST_KEEP') or os.environ.get('FAULTS_KEEP'):
        if _workdirs:
            TAP.diag('kept: %s' % ' '.join(_workdirs))
            del _workdirs[:]
        return
    while _workdirs:
        shutil.rmtree(_workdirs.pop(), ignore_errors=True)


atexit.register(remove_workdirs)


PORT_DIR = os.path.join(tempfile.gettempdir(), 'postern-test-ports')
_reserved = []
_reserver = os.getpid()


def _test_ports():
    """The ports the tests draw from: 10000 up to the kernel's ephemeral
    range (net.ipv4.ip_local_port_range), which no outgoing connection
    takes a source port from; None when that leaves fewer than 1000."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low - 1) if low - 10000 >= 1000 else None


def _bindable(port, udp):
    socks = [socket.socket()] + ([socket.socket(socket.AF_INET, socket.SOCK_DGRAM)] if udp else [])
    try:
        socks[0].setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for s in socks:
            s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def _holder(path):
    """The live process that holds the claim PATH, or None (no claim, a
    dead process, or not a PID)."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except PermissionError:
        return pid                              # alive, another user's
    except (OSError, ValueError):
        return None


def _reserve(port):
    """Claim PORT for this process among all the suite's tests (parallel
    ones, Perl ones too: t/lib/Postern/Test.pm does the same): the file
    PORT_DIR/PORT holding our PID, looked at and written under an
    exclusive flock of PORT_DIR/.lock, so that two tests never both take
    a free port or both take over the claim of a test that is gone."""
    path = os.path.join(PORT_DIR, str(port))
    try:
        lock = os.open(os.path.join(PORT_DIR, '.lock'), os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        return False
    try:
        end = time.monotonic() + 10             # held for microseconds: bounded all the same
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    return False
                time.sleep(0.005)
        if _holder(path) is not None:
            return False
        with open(path, 'w') as f:
            f.write('%d\n' % os.getpid())
        _reserved.append(path)
        return True
    except OSError:
        return False                            # another user's stale claim
    finally:
        os.close(lock)                          # and with it the flock


def _release_ports():
    if os.getpid() != _reserver:
        return                                  # a forked child: the claims are its parent's
    while _reserved:
        try:
            os.unlink(_reserved.pop())
        except OSError:
            pass


atexit.register(_release_ports)


def free_port(udp=False):
    """A free TCP port on 127.0.0.1 (and UDP with UDP) that no other test
    of the suite holds: drawn below the kernel's ephemeral range and
    claimed for this process until it exits, so a parallel test's
    listener or outgoing connection cannot take it between this call and
    the bind of the server it is for.  Where the range does not allow
    that, the kernel's choice."""
    rng = _test_ports()
    if rng is not None:
        try:
            os.makedirs(PORT_DIR, exist_ok=True)
            os.chmod(PORT_DIR, 0o1777)
        except OSError:
            pass
        for _ in range(500):
            port = random.randint(*rng)
            if _bindable(port, udp) and _reserve(port):
                return port
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        if _bindable(port, udp):
            return port
    raise RuntimeError('no free port on 127.0.0.1')


def listening(port, host='127.0.0.1'):
    """Does HOST:PORT accept a TCP connection now?"""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def wait_listening(ports, timeout, alive=lambda: True, host='127.0.0.1'):
    """Wait until each of PORTS on HOST accepts a connection: True; False
    as soon as ALIVE() is false (the server exited) or TIMEOUT seconds
    pass.  The one "wait for a port" of the harness."""
    end = time.monotonic() + timeout
    for port in ports:
        while not listening(port, host):
            if not alive() or time.monotonic() > end:
                return False
            time.sleep(0.02)
    return True


def nobody_ids():
    """(uid, gid) the workers run as: nobody:nogroup when root, else ours."""
    if not IS_ROOT:
        return os.getuid(), os.getgid()
    return pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid


def workdir(prefix='postern-test-py-'):
    """A temporary directory the workers (nobody when root) can use."""
    d = tempfile.mkdtemp(prefix=prefix)
    _workdirs.append(d)
    os.chmod(d, 0o755)
    if IS_ROOT:
        try:
            os.chown(d, *nobody_ids())
        except KeyError:
            pass
    return d


def install_program(d, src, name=None):
    """Copy the program SRC into D (mode 0755) so that nobody can run it
    whatever the checkout's permissions are; returns the new path."""
    dst = os.path.join(d, name or os.path.basename(src))
    shutil.copy(src, dst)
    os.chmod(dst, 0o755)
    return dst


def write_script(path, text):
    """Write TEXT into the executable file PATH; returns PATH."""
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def make_cert(d, name='server', cn='localhost'):
    """A self-signed ECDSA certificate for localhost/127.0.0.1 made with
    certtool, the key 0600: (certificate path, key path).  NAME prefixes the
    file names."""
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
    os.chmod(key, 0o600)    # root-only, as in production: the master reads it
    return cert, key


def ini(conf):
    """CONF ({section: {key: value}}) as the text of a configuration file."""
    order = {'server': 0, 'limits': 1, 'tls': 2, 'hooks': 3}
    out = ''
    for sec in sorted(conf, key=lambda s: (order.get(s, 9), s)):
        out += '[%s]\n' % sec
        for k in sorted(conf[sec]):
            out += '%s = %s\n' % (k, conf[sec][k])
    return out


def _stat(pid):
    """(state, ppid) of PID from /proc, or None."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rfind(')') + 2:].split()
    if len(rest) < 2:
        return None
    return rest[0], int(rest[1])


def alive(pid):
    """Is PID a live process (not gone, not a zombie)?"""
    st = _stat(pid)
    return st is not None and st[0] not in ('Z', 'X')


def children(ppid, zombies=False):
    """Pids (sorted) whose parent is PPID, from /proc; without the zombies
    unless ZOMBIES."""
    kids = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        st = _stat(p)
        if st and st[1] == ppid and (zombies or st[0] not in ('Z', 'X')):
            kids.append(int(p))
    return sorted(kids)


# ---------------------------------------------------------------------------
# The server

class Server:
    """posternd -f -d with a generated configuration.

    Server(config={section: {key: value}}, endpoints=('smtp',), certs=None,
           tls=False, dir=None, wait=True, check=True)

    Defaults: [server] hostname mx.test, 2 workers, min_spare 1, max_spare 4, reverse_lookup no,
    the pidfile and spool in DIR (user nobody, group nogroup when root);
    [hooks] data = postern-maildir DIR/Maildir; one [ENDPOINT] per name in
    ENDPOINTS listening on a free port.  Sections in CONFIG are merged over
    these (a value of None deletes a key, a section of None the section).
    CERTS, a list of (name, cn), makes certificates (srv.certs[name] =
    (cert, key)) and points [tls] at the first; tls=True is certs=
    (('server', 'localhost'),).  With wait (the default) the constructor
    returns once every endpoint accepts connections, and raises if it does
    not.  CHECK is stop()'s default."""

    def __init__(self, config=None, endpoints=('smtp',), certs=None, tls=False, dir=None,
                 wait=True, check=True):
        self.dir = d = dir or workdir()
        self.check = check
        self.failed_before = TAP.failed    # on a failure, stop() shows the log's tail
        self.status = None
        self.hook = os.path.join(d, 'postern-maildir')
        if not os.path.exists(self.hook):
            install_program(d, os.path.join(BUILDDIR, 'hooks', 'postern-maildir'))
        self.maildir = os.path.join(d, 'Maildir')
        srv = {'hostname': 'mx.test', 'pidfile': d + '/posternd.pid',
               'workers': 2, 'min_spare': 1, 'max_spare': 4, 'spool_directory': d,
               'reverse_lookup': 'no'}   # hermetic: no DNS unless a test asks
        if IS_ROOT:
            srv.update(user='nobody', group='nogroup')
        self.conf = {'server': srv, 'hooks': {'data': '%s %s' % (self.hook, self.maildir)}}
        if tls and not certs:
            certs = (('server', 'localhost'),)
        self.certs = {}
        for name, cn in certs or ():
            self.certs[name] = make_cert(d, name, cn)
        if certs:
            cert, key = self.certs[certs[0][0]]
            self.conf['tls'] = {'certificate': cert, 'key': key}
            self.cert = cert
        self.ports = {}
        for ep in endpoints:
            self.ports[ep] = free_port()
            self.conf[ep] = {'listen': '127.0.0.1:%d' % self.ports[ep]}
        self.port = self.ports[endpoints[0]] if endpoints else None
        for sec, v in (config or {}).items():
            if v is None:
                self.conf.pop(sec, None)
                continue
            if not v and sec not in self.conf:
                continue
            s = self.conf.setdefault(sec, {})
            s.update(v)
            for k in [k for k in s if s[k] is None]:
                del s[k]
        self.conffile = d + '/postern.conf'
        self.write_conf()
        self.logfile = d + '/posternd.log'
        self.log = open(self.logfile, 'ab')
        # The ports are claimed for this test (free_port): no parallel test
        # can have taken one, so a failed start is a failure, not a race.
        self.proc = subprocess.Popen([BUILDDIR + '/posternd', '-f', '-d', '-c', self.conffile],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        if wait and not self.wait_ready():
            self.stop(check=False)
            raise RuntimeError('posternd did not start; log:\n' + self.log_text()[-3000:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def write_conf(self):
        """(Re)write the configuration file from self.conf, atomically."""
        tmp = self.conffile + '.tmp'
        with open(tmp, 'w') as f:
            f.write(ini(self.conf))
        os.rename(tmp, self.conffile)

    def wait_ready(self, timeout=20):
        """Wait until every endpoint accepts a connection; False if the
        server exits or TIMEOUT seconds pass."""
        end = time.monotonic() + timeout
        if not wait_listening(self.ports.values(), timeout, lambda: self.proc.poll() is None):
            return False
        # the sockets listen before the first worker is forked
        while not self.worker_pids():
            if self.proc.poll() is not None or time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def log_text(self):
        """The server's log (stdout and stderr) so far."""
        try:
            with open(self.logfile, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, regex, timeout=10, count=1):
        """Wait until REGEX (multi-line) matches COUNT times in the log;
        the COUNTth match, or None after TIMEOUT seconds."""
        end = time.monotonic() + timeout
        while True:
            found = list(re.finditer(regex, self.log_text(), re.M))
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > end:
                return None
            time.sleep(0.05)

    def messages(self):
        """Files in the Maildir's new/ (full paths, sorted by name)."""
        d = self.maildir + '/new'
        try:
            return sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith('.'))
        except OSError:
            return []

    def message(self, subject):
        """The text of the first stored message with this Subject, or ''."""
        for p in self.messages():
            with open(p, 'rb') as f:
                text = f.read().decode('latin-1')
            if re.search(r'^Subject: %s$' % re.escape(subject), text, re.M):
                return text
        return ''

    def worker_pids(self, zombies=False):
        """Pids of the workers (the master's children)."""
        return children(self.pid, zombies)

    def wait_exit(self, timeout):
        """The exit status (as Popen.returncode) or None after TIMEOUT s."""
        try:
            self.status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.status

    def sanitizer_reports(self):
        """Lines of the log that are sanitizer reports."""
        return [l for l in self.log_text().splitlines() if re.search(SANITIZER_RE, l)]

    def stop(self, check=None, timeout=30):
        """SIGTERM, wait (bounded; then SIGKILL to the workers and the
        master); with CHECK (the constructor's by default) one test that
        the log has no sanitizer report.  Returns the exit status
        (Popen.returncode).  A second call only returns the status."""
        if self.log.closed:
            return self.status
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            if self.wait_exit(timeout) is None:
                TAP.diag('posternd %d did not stop: killing it' % self.pid)
                for w in self.worker_pids():
                    try:
                        os.kill(w, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.kill()
                self.proc.wait()
        self.status = self.proc.returncode
        self.log.close()
        if TAP.failed > self.failed_before:
            TAP.diag('posternd %d log, last lines:\n%s' % (self.pid, '\n'.join(self.log_text().splitlines()[-25:])))
        if (check if check is not None else self.check):
            bad = self.sanitizer_reports()
            TAP.ok(not bad, 'no sanitizer report in the server log', '\n'.join(bad[:6]))
        return self.status


# ---------------------------------------------------------------------------
# Clients

def client_context(maximum=None):
    """A TLS client context that does not verify (the certificates are
    self-signed); MAXIMUM caps the protocol version."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class Lines:
    """CRLF lines and whole SMTP replies over a socket (plain or TLS);
    unbuffered reads one byte at a time, so that nothing past the line
    asked for is taken from the socket."""

    def __init__(self, sock, unbuffered=False):
        self.sock = sock
        self.buf = b''
        self.unbuffered = unbuffered

    def line(self, timeout=10):
        """One line (up to LF, decoded as latin-1) or None at EOF/timeout."""
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
        """A whole reply (NNN- lines and the last), or None at EOF."""
        text = ''
        while True:
            l = self.line(timeout)
            if l is None:
                return text or None
            text += l
            if not re.match(r'^\d{3}-', l):
                return text

    def cmd(self, line, timeout=10):
        """Send LINE and CRLF; the reply."""
        self.sock.sendall(line.encode() + b'\r\n')
        return self.reply(timeout)
