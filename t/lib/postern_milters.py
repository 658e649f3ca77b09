# SPDX-License-Identifier: ISC
"""postern_milters - real milters for a test, each started privately.

Every milter runs from a directory of its own under the test's temporary
directory (configuration, sockets, logs, pid files, state), listens on a
free loopback port, is offline (no update job, no network lookup: what it
resolves goes to a DNS server the test started, or nowhere), and is
stopped by PID.  The constructor returns once the milter accepts
connections (a condition, never a sleep) and raises RuntimeError with the
end of its logs if it does not.

    from postern_milters import Rspamd, missing
    why = missing(Rspamd)            # '<prog> missing: apt-get install <pkg>'
    with Rspamd(dir) as rs:          # or rs = Rspamd(dir) ... rs.stop()
        conf['milter.rspamd'] = {'socket': rs.socket}
        rs.started_in                # seconds from exec to a listening socket

The milters:
    Rspamd(dir)                      rspamd in milter proxy mode (self_scan)
    DKIMKey(dir, domain, selector)   a key made by opendkim-genkey
    OpenDKIM(dir, key, ...)          signs on the endpoint named "submission"
                                     ({daemon_name}), verifies elsewhere
    OpenDMARC(dir, ...)              under its own resolv.conf (see there)
    ClamAV(dir)                      clamd with a one-signature database
                                     (EICAR) and clamav-milter in front
    SpamAssassin(dir)                spamd (local tests only) and
                                     spamass-milter in front
    Recorder(dir, mode)              t/lib/milter_recorder.py (python3-milter:
                                     see python_with_milter()), recording
                                     every event to a file

Python 3 standard library only; postern_dnsmasq for the DNS server.
"""
import os
import pwd
import grp
import re
import shutil
import signal
import json
import subprocess
import sys
import time

from postern_dnsmasq import Dnsmasq, free_address
from postern_test import free_port, listening

__all__ = ['missing', 'stop_all', 'Milter', 'Rspamd', 'DKIMKey', 'OpenDKIM', 'OpenDMARC', 'ClamAV', 'SpamAssassin',
           'Recorder', 'python_with_milter', 'GTUBE', 'EICAR', 'txt_record', 'Dnsmasq', 'free_address']

IS_ROOT = os.geteuid() == 0
START_TIMEOUT = 90          # seconds; a loaded machine, a cold cache
RECORDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'milter_recorder.py')
GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
EICAR = r'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'


def missing(*classes):
    """Why these milters cannot run here ('<prog> missing: apt-get install
    <packages>'), or None."""
    for cls in classes:
        for prog in cls.programs:
            if shutil.which(prog) is None and not os.access(prog, os.X_OK):
                return '%s missing: apt-get install %s' % (os.path.basename(prog), cls.packages)
    return None




def _nobody():
    return pwd.getpwnam('nobody').pw_uid, grp.getgrnam('nogroup').gr_gid


def stop_all(*milters):
    """Stop these milters (None is skipped) together: SIGTERM to every
    process at once, last started first (libmilter takes up to 5 s to
    notice, after it served a connection: one wait for all), then wait
    for each; SIGKILL what still lives after 15 s."""
    procs = []
    for m in milters:
        if m is not None:
            procs += m.procs[::-1]
            m.procs = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def txt_record(name, text):
    """The dnsmasq argument serving TEXT (without commas) as the TXT record
    NAME: in character strings of at most 200 octets (DNS allows 255 each),
    as many as it takes; a reader joins them."""
    return '--txt-record=%s,%s' % (name, ','.join(text[i:i + 200] for i in range(0, len(text), 200)))


class Milter:
    """What every milter here shares: a private directory, processes
    started by us and stopped by PID, a loopback port.

    Subclasses set programs (absolute paths or names on PATH) and
    packages (the apt-get install line), and call self.spawn() and
    self.wait() from their constructor."""
    programs = ()
    packages = ''
    name = 'milter'

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        if IS_ROOT:
            os.chown(dir, *_nobody())       # the daemons that drop to nobody write here
        self.procs = []
        self.logs = []
        self.port = free_port()
        self.t0 = time.monotonic()
        self.started_in = None

    @property
    def socket(self):
        """The milter's address as postern.conf's [milter.NAME] socket."""
        return 'inet:127.0.0.1:%d' % self.port

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, 'w') as f:
            f.write(text)
        os.chmod(p, mode)
        if IS_ROOT:
            os.chown(p, *_nobody())
        return p

    def spawn(self, what, argv, **kw):
        """Start ARGV in the foreground (its stdout and stderr to
        DIR/WHAT.out); the process is stopped by stop()."""
        out = self.path(what + '.out')
        self.logs.append(out)
        with open(out, 'ab') as f:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, cwd=self.dir, **kw)
        self.procs.append(p)
        return p

    def wait(self, cond, what, timeout=START_TIMEOUT):
        """Wait until COND() is true while every process lives; else stop
        everything and raise, with the logs."""
        end = time.monotonic() + timeout
        while not cond():
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > end:
                why = ('%s exited with status %s' % (' '.join(dead[0].args[:1]), dead[0].returncode)
                       if dead else 'not within %d s' % timeout)
                self.stop()
                raise RuntimeError('%s: %s did not come up: %s\n%s' % (self.name, what, why, self.log_tail()))
            time.sleep(0.05)

    def ready(self):
        """Wait for the milter's port; record the start-up time."""
        self.wait(lambda: listening(self.port), 'the milter socket 127.0.0.1:%d' % self.port)
        self.started_in = time.monotonic() - self.t0

    def log_tail(self, n=3000):
        text = ''
        for p in self.logs:
            try:
                with open(p, 'rb') as f:
                    text += '== %s\n%s\n' % (p, f.read().decode('utf-8', 'replace')[-n:])
            except OSError:
                pass
        return text

    def stop(self):
        """Stop the milter's processes (see stop_all)."""
        stop_all(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------------------
# rspamd

class Rspamd(Milter):
    """rspamd 3.x with one worker, the rspamd_proxy in milter mode scanning
    by itself (self_scan), from a configuration of its own that includes
    nothing of /etc/rspamd: the stock Lua rules and plugins (the plugins
    without a configuration section disable themselves, so no RBL, fuzzy,
    SURBL, update or Redis), actions reject at REJECT and add header at
    ADD_HEADER, milter_headers adding X-Spamd-Result, X-Spam-Status and
    X-Rspamd-Queue-Id, also for mail from loopback addresses, where the
    tests connect from (skip_local = false: by default rspamd adds no
    header to "local" mail).  Offline: its resolver is a closed loopback port, no
    map is remote; a five-line TLD list instead of the public suffix list
    (whose compilation alone takes many seconds); hyperscan off.

    GTUBE in a message is rspamd's reject with "554 5.7.1 Gtube pattern"."""
    programs = ('rspamd',)
    packages = 'rspamd'
    name = 'rspamd'

    def __init__(self, dir, reject=15, add_header=6, headers=('x-spamd-result', 'x-spam-status',
                                                              'x-rspamd-queue-id')):
        Milter.__init__(self, dir)
        d = self.dir
        self.write('tld.dat', 'com\norg\nnet\ntest\nexample\n')
        self.write('rspamd.conf', '''# a private rspamd: one proxy worker in milter mode, offline
options {
  pidfile = "%(d)s/rspamd.pid";
  dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; }
  disable_hyperscan = true;
  hs_cache_dir = "%(d)s";
  cache_file = "%(d)s/symbols.cache";
  control_socket = "%(d)s/rspamd.sock mode=0600";
  tempdir = "%(d)s";
  url_tld = "%(d)s/tld.dat";
  local_addrs = [];
  task_timeout = 60s;  # a loaded test machine: no result cut short
}
logging { type = "file"; filename = "%(d)s/rspamd.log"; level = "info"; }
lang_detection { languages_enable = ["en"]; }
lua = "$RULESDIR/rspamd.lua";
modules { path = "${PLUGINSDIR}"; }
actions { reject = %(reject)s; add_header = %(add)s; }
milter_headers { use = [%(headers)s]; skip_local = false; }
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  count = 1;
  milter = yes;
  timeout = 120s;
  upstream "local" { default = yes; self_scan = yes; }
}
''' % {'d': d, 'port': self.port, 'reject': reject, 'add': add_header,
       'headers': ', '.join('"%s"' % h for h in headers)})
        self.logs.append(self.path('rspamd.log'))
        argv = ['rspamd', '-f', '-c', self.path('rspamd.conf')]
        for var in ('DBDIR', 'RUNDIR', 'LOGDIR'):
            argv += ['--var', '%s=%s' % (var, d)]
        if IS_ROOT:
            argv += ['-u', 'nobody', '-g', 'nogroup']
        self.main = self.spawn('rspamd', argv)
        self.ready()


# ---------------------------------------------------------------------------
# OpenDKIM and OpenDMARC

class DKIMKey:
    """A DKIM key for DOMAIN and SELECTOR made with opendkim-genkey in DIR:
    .private (the key file), .name (SELECTOR._domainkey.DOMAIN), .record
    (the TXT record's text), .dnsmasq (the dnsmasq argument serving it)."""

    def __init__(self, dir, domain='example.org', selector='test'):
        os.makedirs(dir, exist_ok=True)
        subprocess.run(['opendkim-genkey', '-D', dir, '-d', domain, '-s', selector], check=True,
                       timeout=120, stdout=subprocess.DEVNULL)
        self.domain, self.selector = domain, selector
        self.private = os.path.join(dir, selector + '.private')
        with open(os.path.join(dir, selector + '.txt')) as f:
            self.record = ''.join(re.findall(r'"([^"]*)"', f.read()))
        self.name = '%s._domainkey.%s' % (selector, domain)
        self.dnsmasq = txt_record(self.name, self.record)
        if IS_ROOT:
            os.chown(self.private, *_nobody())


def unbound_conf(milter, dns):
    """A libunbound configuration sending every query to DNS (a Dnsmasq:
    address and port), for opendkim's ResolverConfiguration."""
    return milter.write('unbound.conf', 'server:\n  do-not-query-localhost: no\n  verbosity: 1\n'
                        'forward-zone:\n  name: "."\n  forward-addr: %s@%d\n' % (dns.address, dns.port))


class OpenDKIM(Milter):
    """opendkim (Mode sv) signing with KEY (a DKIMKey) for its domain the
    mail that arrives on an endpoint named in MTA (matched against
    {daemon_name}, i.e. the Postern endpoint), verifying the rest, with
    AUTHSERV_ID in its Authentication-Results.  InternalHosts is an
    address no test client has: 127.0.0.1, where the tests connect from,
    is not "internal", so the endpoint alone decides.  KeepAuthResults:
    opendkim leaves forged Authentication-Results fields alone, so a test
    sees that Postern removes them.

    Keys are looked up in DNS (DNS: a Dnsmasq), through opendkim's
    libunbound resolver (Debian builds opendkim with it): its
    ResolverConfiguration is an unbound configuration forwarding every
    query to DNS's address@port.  (Nameservers cannot name a port: opendkim
    hard-codes 53, and with the stock resolver on Linux ignores it.)
    Without DNS, TestPublicKeys gives opendkim the key from a file."""
    programs = ('opendkim', 'opendkim-genkey')
    packages = 'opendkim opendkim-tools'
    name = 'opendkim'

    def __init__(self, dir, key, dns=None, mta='submission', authserv_id='mx.test'):
        Milter.__init__(self, dir)
        self.write('internal', '192.0.2.250\n')
        conf = ['Socket inet:%d@127.0.0.1' % self.port, 'Mode sv', 'Domain ' + key.domain,
                'Selector ' + key.selector, 'KeyFile ' + key.private, 'MTA ' + mta,
                'InternalHosts ' + self.path('internal'), 'AuthservID ' + authserv_id,
                'PidFile ' + self.path('opendkim.pid'), 'Syslog no', 'LogWhy yes',
                'RequireSafeKeys false', 'Background no', 'Canonicalization relaxed/simple',
                'KeepAuthResults yes']
        if dns is not None:
            conf.append('ResolverConfiguration ' + unbound_conf(self, dns))
        else:
            conf.append('TestPublicKeys ' + self.write('keys', '%s %s\n' % (key.name, key.record)))
        if IS_ROOT:
            conf.append('UserID nobody:nogroup')
        self.write('opendkim.conf', '\n'.join(conf) + '\n')
        self.spawn('opendkim', ['opendkim', '-f', '-x', self.path('opendkim.conf')])
        self.ready()


class OpenDMARC(Milter):
    """opendmarc with AUTHSERV_ID (trusting opendkim's results under the
    same id), RejectFailures, its own SPF check off or on (SPF), no
    history, no reports.

    opendmarc asks the system resolver, which reads /etc/resolv.conf and
    port 53 only.  So that nothing of the system is touched or asked, it
    runs in a mount namespace of its own (unshare -m) with the test's
    resolv.conf bind-mounted over /etc/resolv.conf, naming DNS, which must
    then listen on port 53 of a loopback address (Dnsmasq(...,
    address=free_address())).  Both need root: unavailable() says why
    not."""
    programs = ('opendmarc', '/usr/bin/unshare')
    packages = 'opendmarc util-linux'
    name = 'opendmarc'

    @staticmethod
    def unavailable(dir):
        """Why opendmarc cannot run offline here (missing, not root, no
        mount namespaces: a container without CAP_SYS_ADMIN), or None."""
        why = missing(OpenDMARC)
        if why or not IS_ROOT:
            return why or 'opendmarc needs root here (its resolver asks port 53)'
        probe = os.path.join(dir, 'resolv.probe')
        with open(probe, 'w') as f:
            f.write('nameserver 127.53.0.1\n')
        r = subprocess.run(['/usr/bin/unshare', '-m', '/bin/sh', '-c',
                            'mount --bind %s /etc/resolv.conf && grep -q 127.53.0.1 /etc/resolv.conf' % probe],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        os.unlink(probe)
        return None if r.returncode == 0 else 'unshare -m with a bind mount does not work here (no CAP_SYS_ADMIN?)'

    def __init__(self, dir, dns, authserv_id='mx.test', spf=False):
        Milter.__init__(self, dir)
        if dns.port != 53:
            raise RuntimeError('opendmarc can only ask a DNS server on port 53')
        self.write('resolv.conf', 'nameserver %s\noptions timeout:2 attempts:1\n' % dns.address)
        self.write('ignore', '192.0.2.250\n')
        conf = ['Socket inet:%d@127.0.0.1' % self.port, 'AuthservID ' + authserv_id,
                'TrustedAuthservIDs ' + authserv_id, 'RejectFailures true', 'IgnoreHosts ' + self.path('ignore'),
                'SPFSelfValidate %s' % ('true' if spf else 'false'), 'SPFIgnoreResults %s' % ('false' if spf else 'true'),
                'FailureReports false', 'Syslog false', 'PidFile ' + self.path('opendmarc.pid'),
                'Background false', 'DNSTimeout 5']
        if IS_ROOT:
            conf.append('UserID nobody:nogroup')
        self.write('opendmarc.conf', '\n'.join(conf) + '\n')
        sh = 'mount --bind %s /etc/resolv.conf && exec opendmarc -f -c %s' % (
            self.path('resolv.conf'), self.path('opendmarc.conf'))
        self.spawn('opendmarc', ['/usr/bin/unshare', '-m', '/bin/sh', '-c', sh])
        self.ready()


# ---------------------------------------------------------------------------
# clamav-milter

class ClamAV(Milter):
    """clamd with a database directory of its own whose only signature is
    the EICAR test string (an .ndb body signature named
    Eicar-Test-Signature: no freshclam, no official database), on a unix
    socket in DIR, and clamav-milter in front of it: OnInfected Reject,
    OnFail Defer, an X-Virus-Status header on clean mail, RejectMsg
    "Rejected: virus %v found"."""
    programs = ('clamd', 'clamav-milter')
    packages = 'clamav-daemon clamav-milter'
    name = 'clamav'

    def __init__(self, dir):
        Milter.__init__(self, dir)
        d = self.dir
        os.makedirs(self.path('db'), exist_ok=True)
        self.write('db/eicar.ndb', 'Eicar-Test-Signature:0:*:%s\n' % EICAR.encode().hex())
        user = 'User nobody\n' if IS_ROOT else ''
        self.write('clamd.conf', 'LocalSocket %s/clamd.sock\nDatabaseDirectory %s/db\nForeground yes\n'
                   'LogFile %s/clamd.log\nPidFile %s/clamd.pid\nTemporaryDirectory %s\nBytecode no\n'
                   'SelfCheck 3600\n%s' % (d, d, d, d, d, user))
        self.write('clamav-milter.conf', 'MilterSocket inet:%d@127.0.0.1\nClamdSocket unix:%s/clamd.sock\n'
                   'OnInfected Reject\nOnFail Defer\nAddHeader Replace\nRejectMsg Rejected: virus %%v found\n'
                   'Foreground yes\nPidFile %s/clamav-milter.pid\nLogFile %s/clamav-milter.log\n'
                   'TemporaryDirectory %s\n%s' % (self.port, d, d, d, d, user))
        self.logs += [self.path('clamd.log'), self.path('clamav-milter.log')]
        self.spawn('clamd', ['clamd', '-c', self.path('clamd.conf')])
        self.wait(lambda: os.path.exists(self.path('clamd.sock')), 'clamd\'s socket')
        self.spawn('clamav-milter', ['clamav-milter', '-c', self.path('clamav-milter.conf')])
        self.ready()


# ---------------------------------------------------------------------------
# spamass-milter

class SpamAssassin(Milter):
    """spamd with a site configuration of its own (only the Check plugin
    loaded, Bayes, auto-learning and DNS off) and local tests only (-L),
    on a loopback port, and spamass-milter in front of it asking spamd
    through spamc: mail scoring REJECT or more is refused ("550 5.7.1
    Blocked by SpamAssassin"), the rest gets X-Spam-* headers, and what
    scores 5 or more is tagged as spamassassin(1) tags it (spamass-milter
    then changes headers and replaces the body).  RULES: more local.cf
    lines (a test's own rules).  Nothing runs sa-update."""
    programs = ('spamd', 'spamc', 'spamass-milter')
    packages = 'spamd spamassassin spamc spamass-milter'
    name = 'spamassassin'

    def __init__(self, dir, reject=15, rules=''):
        Milter.__init__(self, dir)
        os.makedirs(self.path('site'), exist_ok=True)
        os.makedirs(self.path('home'), exist_ok=True)
        if IS_ROOT:
            for sub in ('site', 'home'):
                os.chown(self.path(sub), *_nobody())
        self.write('site/init.pre', 'loadplugin Mail::SpamAssassin::Plugin::Check\n')
        self.write('site/local.cf', 'required_score 5\nuse_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n'
                   'dns_available no\n' + rules)
        self.spamd_port = free_port()
        argv = ['spamd', '-L', '-x', '--siteconfigpath=' + self.path('site'),
                '--helper-home-dir=' + self.path('home'), '-i', '127.0.0.1', '-p', str(self.spamd_port),
                '-A', '127.0.0.1', '-m', '2', '--min-children=1', '--min-spare=1', '--max-spare=2',
                '-s', self.path('spamd.log'), '-r', self.path('spamd.pid')]
        if IS_ROOT:
            argv += ['-u', 'nobody', '-g', 'nogroup']
        self.logs.append(self.path('spamd.log'))
        self.spawn('spamd', argv)
        self.wait(lambda: listening(self.spamd_port), 'spamd on 127.0.0.1:%d' % self.spamd_port)
        self.spawn('spamass-milter', ['spamass-milter', '-p', 'inet:%d@127.0.0.1' % self.port, '-r', str(reject),
                                      '--', '-d', '127.0.0.1', '-p', str(self.spamd_port)])
        self.ready()


# ---------------------------------------------------------------------------
# the python3-milter recorder

def python_with_milter():
    """A python3 that can import Debian's python3-milter (the one running
    the test, or /usr/bin/python3), or None."""
    for exe in (sys.executable, '/usr/bin/python3'):
        if exe and subprocess.run([exe, '-c', 'import Milter'], capture_output=True).returncode == 0:
            return exe
    return None


class Recorder(Milter):
    """t/lib/milter_recorder.py in MODE (default, symlist, noreply,
    leadspc: see there), run by EXE (python_with_milter()), writing every
    event it sees as a JSON line to DIR/events-MODE.jsonl (.log)."""
    packages = 'python3-milter'
    name = 'milter_recorder'

    def __init__(self, dir, mode='default', exe=None):
        Milter.__init__(self, dir)
        self.exe = exe or python_with_milter()
        if self.exe is None:
            raise RuntimeError('python3-milter missing: apt-get install python3-milter')
        self.log = self.path('events-%s.jsonl' % mode)
        self.spawn('recorder-' + mode, [self.exe, RECORDER, str(self.port), self.log, mode])
        self.ready()

    def events(self, until='close', timeout=10):
        """The events recorded since the last reset, once UNTIL was seen
        (or TIMEOUT seconds passed)."""
        end = time.monotonic() + timeout
        while True:
            evs = []
            if os.path.exists(self.log):
                with open(self.log) as f:
                    evs = [json.loads(line) for line in f if line.endswith('\n')]
            if any(e['ev'] == until for e in evs) or time.monotonic() > end:
                return evs
            time.sleep(0.05)

    def reset(self):
        open(self.log, 'w').close()
