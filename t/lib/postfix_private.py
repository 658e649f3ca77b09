# SPDX-License-Identifier: ISC
"""postfix_private - a private Postfix instance for the gateway tests:
its own config, queue and data directories under the test's directory,
smtpd on free loopback ports, its log in a file (postlogd), delivery into
virtual Maildirs; started with `postfix -c DIR start` and stopped by the
master's PID.  Never the system instance: nothing under /etc is written.

    pf = Postfix(d, cert=(cert, key), users=['bob@example.org'],
                 smtpd={'fast': {}, 'slow': {'smtpd_end_of_data_restrictions': '$slow_eod'}},
                 main={'slow_eod': 'sleep 4'})
    pf.start(); pf.ports['fast']; pf.delivered('bob@example.org'); pf.log(); pf.stop()
"""
import os
import signal
import subprocess
import time

from postern_test import free_port, wait_listening

__all__ = ['Postfix']

SERVICES = ('cleanup', 'qmgr', 'tlsmgr', 'rewrite', 'bounce', 'defer', 'trace', 'verify', 'flush',
            'proxymap', 'proxywrite', 'smtp', 'relay', 'showq', 'error', 'retry', 'discard', 'local',
            'virtual', 'lmtp', 'anvil', 'scache', 'postlog')


class Postfix:
    def __init__(self, d, cert=None, users=(), smtpd=None, main=None):
        self.d = d
        self.conf = os.path.join(d, 'etc')
        self.queue = os.path.join(d, 'queue')
        self.mail = os.path.join(d, 'mail')
        self.logfile = os.path.join(d, 'maillog')
        for sub in (self.conf, self.queue, os.path.join(d, 'data'), self.mail):
            os.makedirs(sub, exist_ok=True)
        os.chmod(d, 0o755)
        subprocess.run(['chown', 'postfix', os.path.join(d, 'data')], check=True)
        subprocess.run(['chown', 'nobody:nogroup', self.mail], check=True)
        with open(os.path.join(self.conf, 'vmailbox'), 'w') as f:
            for u in users:
                f.write('%s %s/\n' % (u, u.split('@')[0]))
        self.ports = {name: free_port() for name in (smtpd or {'smtp': {}})}
        conf = {
            'compatibility_level': '3.6', 'queue_directory': self.queue,
            'data_directory': os.path.join(d, 'data'), 'mail_owner': 'postfix',
            'setgid_group': 'postdrop', 'inet_interfaces': '127.0.0.1', 'inet_protocols': 'ipv4',
            'myhostname': 'downstream.test', 'mydestination': '', 'mynetworks': '127.0.0.0/8',
            'smtpd_relay_restrictions': 'permit_mynetworks, reject_unauth_destination',
            'virtual_mailbox_domains': 'example.org', 'virtual_mailbox_base': self.mail,
            'virtual_mailbox_maps': 'texthash:%s/vmailbox' % self.conf,
            'virtual_uid_maps': 'static:65534', 'virtual_gid_maps': 'static:65534',
            'maillog_file': self.logfile, 'maillog_file_prefixes': d, 'smtputf8_enable': 'yes', 'biff': 'no',
            'alias_maps': '', 'alias_database': '', 'local_recipient_maps': '',
            'smtpd_authorized_xclient_hosts': '127.0.0.1',
            'smtp_dns_support_level': 'disabled', 'disable_dns_lookups': 'yes',
        }
        if cert:
            conf.update(smtpd_tls_cert_file=cert[0], smtpd_tls_key_file=cert[1],
                        smtpd_tls_security_level='encrypt', smtpd_tls_received_header='yes',
                        smtpd_tls_loglevel='1')
        conf.update(main or {})
        with open(os.path.join(self.conf, 'main.cf'), 'w') as f:
            f.write(''.join('%s = %s\n' % kv for kv in conf.items()))
        with open(os.path.join(self.conf, 'master.cf'), 'w') as f:
            for name, opts in (smtpd or {'smtp': {}}).items():
                f.write('127.0.0.1:%d inet n - n - - smtpd%s\n' % (
                    self.ports[name], ''.join(' -o %s=%s' % kv for kv in opts.items())))
            for line in open('/etc/postfix/master.cf'):
                fields = line.split()
                if fields and fields[0] in SERVICES and fields[1] != 'inet' and not line[0].isspace():
                    fields[4] = 'n'     # no chroot: the queue is not set up for one
                    f.write(' '.join(fields) + '\n')

    def start(self, timeout=60):
        r = subprocess.run(['postfix', '-c', self.conf, 'start'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('postfix start failed: %s' % r.stdout.decode(errors='replace'))
        if not wait_listening(self.ports.values(), timeout):
            raise RuntimeError('postfix did not listen on %s: %s'
                               % (' '.join(map(str, self.ports.values())), self.log()[-2000:]))

    def pid(self):
        try:
            return int(open(os.path.join(self.queue, 'pid', 'master.pid')).read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def log(self):
        try:
            return open(self.logfile, errors='replace').read()
        except OSError:
            return ''

    def delivered(self, addr):
        """The messages in ADDR's Maildir new/ (bytes each)."""
        d = os.path.join(self.mail, addr.split('@')[0], 'new')
        try:
            return [open(os.path.join(d, n), 'rb').read() for n in sorted(os.listdir(d))]
        except OSError:
            return []

    def wait_delivered(self, addr, count, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.delivered(addr)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.delivered(addr)
