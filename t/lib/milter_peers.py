# SPDX-License-Identifier: ISC
"""milter_peers - start real milters for the tests (t/milter-real.py,
t/milter-dkim.py) on free loopback ports with private configurations,
offline, and stop them by PID.

Python 3 standard library only.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

from postern_test import free_port

__all__ = ['wait_port', 'python_with_milter', 'start_opendkim', 'start_rspamd', 'stop']


def python_with_milter():
    """A python3 that can import Debian's python3-milter (the one running
    the test, or /usr/bin/python3), or None."""
    for exe in (sys.executable, '/usr/bin/python3'):
        if exe and subprocess.run([exe, '-c', 'import Milter'], capture_output=True).returncode == 0:
            return exe
    return None


def wait_port(port, proc, timeout=20):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start_opendkim(d, internal='192.0.2.250', authserv_id='mx.example.org'):
    """opendkim signing for the MTA named submission ({daemon_name}),
    verifying with the public key given by TestPublicKeys (no DNS)."""
    subprocess.run(['opendkim-genkey', '-D', d, '-d', 'example.org', '-s', 'test'], check=True, timeout=60)
    with open(d + '/test.txt') as f:
        record = ''.join(re.findall(r'"([^"]*)"', f.read()))
    with open(d + '/keys', 'w') as f:
        f.write('test._domainkey.example.org %s\n' % record)
    with open(d + '/internal', 'w') as f:
        f.write(internal + '\n')     # not the client: it signs by {daemon_name} only
    port = free_port()
    with open(d + '/opendkim.conf', 'w') as f:
        f.write('Socket inet:%d@127.0.0.1\nMode sv\nDomain example.org\nSelector test\n'
                'KeyFile %s/test.private\nMTA submission\nInternalHosts %s/internal\n'
                'AuthservID %s\nTestPublicKeys %s/keys\nPidFile %s/opendkim.pid\n'
                'Syslog no\nRequireSafeKeys false\nBackground no\n%s'
                % (port, d, d, authserv_id, d, d, 'UserID root\n' if os.geteuid() == 0 else ''))
    proc = subprocess.Popen(['opendkim', '-f', '-x', d + '/opendkim.conf'],
                            stdout=subprocess.DEVNULL, stderr=open(d + '/opendkim.err', 'w'))
    if not wait_port(port, proc):
        proc.kill()
        raise RuntimeError('opendkim did not start: ' + open(d + '/opendkim.err').read())
    return proc, port


RSPAMD_LOCAL = {
    'worker-proxy.inc': 'bind_socket = "127.0.0.1:%(port)d";\nmilter = yes;\ntimeout = 120s;\n'
                        'upstream "local" { default = yes; self_scan = yes; }\n',
    'worker-normal.inc': 'enabled = false;\n',
    'worker-controller.inc': 'enabled = false;\n',
    'worker-fuzzy.inc': 'enabled = false;\n',
    'options.inc': 'dns { nameserver = ["127.0.0.1:1"]; timeout = 0.2s; retransmits = 1; }\n',
    'logging.inc': 'type = "console";\nlevel = "error";\n',
    'milter_headers.conf': 'extended_spam_headers = true;\nskip_local = false;\nskip_authenticated = false;\n',
    'rbl.conf': 'enabled = false;\n', 'surbl.conf': 'enabled = false;\n',
    'fuzzy_check.conf': 'enabled = false;\n', 'asn.conf': 'enabled = false;\n',
    'phishing.conf': 'enabled = false;\n', 'rspamd_update.conf': 'enabled = false;\n',
}


def start_rspamd(d):
    """rspamd in milter proxy mode (self_scan): the packaged configuration
    with a private local.d: only the proxy worker, no DNS, RBL or fuzzy."""
    port = free_port()
    for sub in ('local.d', 'db', 'run', 'log'):
        os.mkdir(os.path.join(d, sub))
    for name, text in RSPAMD_LOCAL.items():
        with open(os.path.join(d, 'local.d', name), 'w') as f:
            f.write(text % {'port': port} if '%(port)' in text else text)
    user = ['-u', 'root', '-g', 'root', '-i'] if os.geteuid() == 0 else []
    proc = subprocess.Popen(['rspamd', '-f'] + user + ['--var', 'LOCAL_CONFDIR=' + d, '--var', 'DBDIR=%s/db' % d,
                                                       '--var', 'RUNDIR=%s/run' % d, '--var', 'LOGDIR=%s/log' % d],
                            stdout=open(d + '/rspamd.out', 'w'), stderr=subprocess.STDOUT)
    # loading the rules takes a while on a busy machine
    if not wait_port(port, proc, timeout=300):
        proc.kill()
        proc.wait()
        raise RuntimeError('rspamd did not start: ' + open(d + '/rspamd.out').read()[-2000:])
    return proc, port


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
