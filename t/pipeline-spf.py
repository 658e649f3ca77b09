#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# pipeline-spf.py - the real policyd-spf (Debian postfix-policyd-spf-python)
# as a persistent rcpt step, against dnsmasq on a loopback address: a
# passing sender gets its Received-SPF header in the stored message, a
# failing one is refused with policyd-spf's 550.
#
# policyd-spf asks the system resolver (py3dns reads /etc/resolv.conf, port
# 53, no way to name another server).  So that nothing of the system is
# touched, the step runs it in private user and mount namespaces
# (unshare -rm, possible without privileges where user namespaces are
# allowed) with a resolv.conf of the test's own bind-mounted over
# /etc/resolv.conf for that process only; dnsmasq listens on port 53 of a
# loopback address of its own (127.53.x.y), which needs root.
import os
import random
import re
import smtplib
import subprocess
import time

from postern_test import TAP, Server, IS_ROOT, workdir, write_script, run_main

ok, is_ = TAP.ok, TAP.is_

POLICYD = '/usr/bin/policyd-spf'
DNSMASQ = '/usr/sbin/dnsmasq'
UNSHARE = '/usr/bin/unshare'


def start_dnsmasq(d):
    """dnsmasq on port 53 of a free 127.53.x.y: (process, address)."""
    for _ in range(10):
        addr = '127.53.%d.%d' % (random.randint(0, 255), random.randint(1, 254))
        log = '%s/dnsmasq-%s.log' % (d, addr)
        with open(log, 'w'):
            pass
        os.chmod(log, 0o666)
        p = subprocess.Popen([DNSMASQ, '--keep-in-foreground', '--no-resolv', '--no-hosts',
                              '--conf-file=/dev/null', '--listen-address=' + addr, '--bind-interfaces',
                              '--port=53', '--pid-file=%s/dnsmasq.pid' % d, '--cache-size=0',
                              '--log-queries', '--log-facility=' + log, '--local=/test/',
                              '--txt-record=spf.test,v=spf1 ip4:127.0.0.1 -all',
                              '--txt-record=fail.test,v=spf1 -all'],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end and p.poll() is None:
            with open(log) as f:
                if 'started' in f.read():
                    return p, addr, log
            time.sleep(0.05)
        if p.poll() is None:
            p.terminate()
            p.wait()
    raise RuntimeError('dnsmasq did not start on a 127.53.x.y:53')


def userns_works(d):
    """Can the workers' user bind-mount in a private namespace?"""
    probe = write_script(d + '/probe', '#!/bin/sh\nexec %s -rm /bin/sh -c "mount --bind %s/resolv.conf /etc/resolv.conf '
                         '&& grep -q 127.53 /etc/resolv.conf"\n' % (UNSHARE, d))
    cmd = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', probe] if IS_ROOT else [probe]
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20).returncode == 0


def main():
    d = workdir()
    dns, addr, dnslog = start_dnsmasq(d)
    try:
        with open(d + '/resolv.conf', 'w') as f:
            f.write('nameserver %s\n' % addr)
        os.chmod(d + '/resolv.conf', 0o644)
        if not userns_works(d):
            return TAP.skip_all('unshare -rm does not work here (user namespaces off?)')
        with open(d + '/policyd-spf.conf', 'w') as f:
            f.write('debugLevel = 1\nTestOnly = 1\nHELO_reject = Fail\nMail_From_reject = Fail\n'
                    'PermError_reject = False\nTempError_Defer = False\nskip_addresses = 192.0.2.1/32\n'
                    'Lookup_Time = 5\n')
        step = ("%s -rm /bin/sh -c 'mount --bind %s/resolv.conf /etc/resolv.conf && exec %s %s/policyd-spf.conf'"
                % (UNSHARE, d, POLICYD, d))
        conf = {'hook.spf': {'stage': 'rcpt', 'command': step, 'persistent': 'yes', 'timeout': 20},
                'smtp': {'pipeline': 'spf data'}}
        with Server(config=conf, dir=d) as srv:
            with smtplib.SMTP('127.0.0.1', srv.port, timeout=30) as c:
                c.ehlo('client.test')
                c.sendmail('alice@spf.test', ['bob@example.org'], 'Subject: spf-pass\r\n\r\nhello\r\n')
                c.mail('mallory@fail.test')
                code, msg = c.rcpt('bob@example.org')
                ok(code == 550 and b'SPF' in msg, 'policyd-spf refuses a sender whose domain says -all: its 550',
                   (code, msg))
                c.rset()
            text = srv.message('spf-pass')
            ok(text, 'the passing message is stored')
            m = re.search(r'^Received-SPF: (.*)$', text, re.M)
            ok(m and m.group(1).startswith('Pass'), 'the Received-SPF header of policyd-spf lands in the message',
               text[:600])
            ok(m and 'client-ip=127.0.0.1' in m.group(1) and 'envelope-from=alice@spf.test' in m.group(1),
               'with the client address and the sender')
            head = text.split('\n\n', 1)[0]
            ok(head.index('Received-SPF:') < head.index('Received: from'), 'above our Received: header')
            with open(dnslog) as f:
                q = f.read()
            ok('query[TXT] spf.test' in q and 'query[TXT] fail.test' in q,
               'policyd-spf asked the test\'s DNS server, not the system\'s')
    finally:
        dns.terminate()
        dns.wait()
    return TAP.done()


def why_skip():
    for p, pkg in ((POLICYD, 'postfix-policyd-spf-python'), (DNSMASQ, 'dnsmasq-base'), (UNSHARE, 'util-linux')):
        if not os.access(p, os.X_OK):
            return '%s missing: apt-get install %s' % (os.path.basename(p), pkg)
    if not IS_ROOT:
        return 'needs root (a DNS server on port 53 of a loopback address)'
    return None


if why_skip():
    import sys
    sys.exit(TAP.skip_all(why_skip()))
run_main(main)
