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
import time

from postern_test import free_port

__all__ = ['wait_port', 'start_opendkim', 'stop']


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


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
