# SPDX-License-Identifier: ISC
"""postern_dnsmasq - a private DNS server for a Python test: dnsmasq on a
free loopback port (UDP and TCP) with its own records and nothing else
(the twin of t/lib/Postern/Dnsmasq.pm).

    from postern_dnsmasq import Dnsmasq, missing
    if missing():
        print('1..0 # SKIP ' + missing()); sys.exit(0)
    dns = Dnsmasq(dir, records=['--host-record=mx.example.test,127.0.0.1'],
                  local=['example.test', '127.in-addr.arpa'])
    'resolver = 127.0.0.1:%d' % dns.port
    dns.queries()     # ['PTR 1.0.0.127.in-addr.arpa', 'A mx.example.test', ...]
    Dnsmasq(dir, ..., address='127.53.1.2')   # port 53 of that address (root):
                      # for programs that ask the system resolver
    free_address()    # a 127.53.x.y where nothing listens on port 53
    dns.stop()        # SIGTERM by PID

No file of the system is read (--no-resolv --no-hosts --conf-file=/dev/null)
and nothing is forwarded: a name under a "local" domain without a record is
NXDOMAIN.
"""
import os
import pwd
import random
import re
import signal
import socket
import subprocess

from postern_test import free_port, wait_listening

DNSMASQ = '/usr/sbin/dnsmasq'


def missing():
    """The reason to skip when dnsmasq is not installed, else None."""
    return None if os.access(DNSMASQ, os.X_OK) else 'dnsmasq missing: apt-get install dnsmasq-base'


def _free_port():
    """A port free for both UDP and TCP on 127.0.0.1, claimed for this
    test (postern_test.free_port)."""
    return free_port(udp=True)


def free_address():
    """A loopback address 127.53.x.y whose port 53 (UDP and TCP) is free."""
    for _ in range(50):
        addr = '127.53.%d.%d' % (random.randint(0, 255), random.randint(1, 254))
        u, t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
        try:
            u.bind((addr, 53))
            t.bind((addr, 53))
            return addr
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError('no 127.53.x.y with port 53 free (not root?)')


class Dnsmasq:
    def __init__(self, dir, records=(), local=(), address=None):
        self.address = address or '127.0.0.1'
        self.port = 53 if address else _free_port()
        self.log = os.path.join(dir, 'dnsmasq-%d.log' % self.port)
        out = os.path.join(dir, 'dnsmasq-%d.out' % self.port)
        if os.geteuid() == 0:       # dnsmasq writes its log as the user it becomes
            open(self.log, 'w').close()
            pw = pwd.getpwnam('nobody')
            os.chown(self.log, pw.pw_uid, pw.pw_gid)
        cmd = [DNSMASQ, '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null',
               '--listen-address=' + self.address, '--bind-interfaces', '--port=%d' % self.port,
               '--pid-file=%s/dnsmasq-%d.pid' % (dir, self.port), '--log-queries',
               '--log-facility=' + self.log, '--cache-size=0']
        cmd += ['--local=/%s/' % d for d in local] + list(records)
        with open(out, 'ab') as f:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        if wait_listening([self.port], 10, lambda: self.proc.poll() is None, host=self.address):
            return
        self.stop()
        with open(out) as f:
            raise RuntimeError('dnsmasq did not start on %s:%d: %s' % (self.address, self.port, f.read()))

    def queries(self):
        try:
            with open(self.log) as f:
                return ['%s %s' % m.groups() for m in re.finditer(r'query\[(\w+)\] (\S+) from', f.read())]
        except OSError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
