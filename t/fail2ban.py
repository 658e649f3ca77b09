#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# fail2ban.py - log forging (issue 13, finding 1): the fail2ban filter that
# ships (etc/fail2ban/filter.d/posternd.conf), run by the real
# fail2ban-regex over a real posternd log (-d) that holds genuine AUTH
# failures and lines a client or a hook wrote to forge one for another
# address: an authzid that postern-passwd prints on its stderr, NOOP and
# VRFY text echoed under -d, a user name with spaces, a sender address a
# hook writes to its stderr, a hook that writes a whole forged line.  The
# genuine failures match with 127.0.0.1; no forged line ever yields another
# address; the forged text never reaches the log unescaped.  posternd(8)
# and README.md show the same failregex.
#
# Python 3 standard library, fail2ban-regex (Debian fail2ban), mkpasswd
# (whois).  Prints TAP.
import base64
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import BUILDDIR, TAP, Lines, install_program, write_script  # noqa: E402

ok, is_, note = TAP.ok, TAP.is_, TAP.diag
SRCDIR = os.environ.get('POSTERN_SRCDIR') or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
FILTER = os.path.join(SRCDIR, 'etc', 'fail2ban', 'filter.d', 'posternd.conf')
F2B_COMMON = '/etc/fail2ban/filter.d/common.conf'

USER, PASSWORD = 'f2buser', 'right password'


def forged(addr):
    return 'auth: authentication failed for user=x from [%s] mechanism=PLAIN' % addr


def b64(s):
    return base64.b64encode(s.encode()).decode()


def session(srv, steps):
    """Connect, EHLO, then each (command, expected reply regex)."""
    s = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
    c = Lines(s)
    c.reply()
    c.cmd('EHLO client.test')
    for line, want in steps:
        r = c.cmd(line) or 'EOF'
        ok(re.match(want, r), '%.60s -> %s' % (line, want), r)
    c.cmd('QUIT')
    s.close()


def failregex_of(text):
    """The failregex line of a filter text (roff escapes undone)."""
    text = text.replace('\\e', '\\').replace('\\-', '-').replace('\\(lq', '').replace('\\(rq', '')
    m = re.search(r'^`?failregex = (.*?)`?$', text, re.M)
    return m.group(1).strip() if m else None


def main():
    why = postern_test.missing('mkpasswd')
    if why:
        return TAP.skip_all(why + ': apt-get install whois')
    if postern_test.missing('fail2ban-regex') or not os.path.exists(F2B_COMMON):
        return TAP.skip_all('fail2ban-regex missing: apt-get install fail2ban')
    ok(os.path.exists(FILTER), 'the filter ships as etc/fail2ban/filter.d/posternd.conf')
    if not os.path.exists(FILTER):
        return TAP.done()
    shipped = open(FILTER).read()
    regex = failregex_of(shipped)
    man = open(os.path.join(SRCDIR, 'doc', 'posternd.8')).read()
    is_(failregex_of(man), regex, 'posternd(8) shows the failregex that ships')
    readme = open(os.path.join(SRCDIR, 'README.md')).read()
    ok(regex in readme.replace('\\\\', '\\') or 'etc/fail2ban/filter.d/posternd.conf' in readme,
       'README.md shows the same failregex or points to the file')

    d = postern_test.workdir()
    hashed = subprocess.run(['mkpasswd', '-m', 'yescrypt', PASSWORD], capture_output=True,
                            text=True, timeout=30, check=True).stdout.strip()
    with open(d + '/passwd', 'w') as f:
        f.write('%s:%s\n' % (USER, hashed))
    os.chmod(d + '/passwd', 0o644)
    passwd = install_program(d, BUILDDIR + '/hooks/postern-passwd')
    # a mail hook that writes the sender, then a whole forged line, to stderr
    mailhook = d + '/mailhook'
    write_script(mailhook, '#!/bin/sh\nprintf "%%s\\n" "$POSTERN_SENDER" >&2\n'
                 'printf "%%s\\n" "%s" >&2\nexit 0\n' % forged('192.0.2.70'))
    srv = postern_test.Server(dir=d, config={
        'hooks': {'auth': '%s %s/passwd' % (passwd, d), 'mail': mailhook},
        'smtp': {'auth': 'optional', 'insecure_auth': 'yes'},
        'limits': {'max_auth_attempts': 10}})
    with srv:
        session(srv, [
            # genuine failures: a wrong password; a right one acting as
            # somebody else (postern-passwd prints the authzid); a user name
            # that carries the forged text
            ('AUTH PLAIN ' + b64('\0%s\0wrong' % USER), r'^535 '),
            ('AUTH PLAIN ' + b64('%s\0%s\0%s' % (forged('192.0.2.66'), USER, PASSWORD)), r'^535 '),
            ('AUTH LOGIN ' + b64(forged('192.0.2.67')), r'^334 '),
            (b64('wrong'), r'^535 '),
            # echoed under -d
            ('NOOP ' + forged('192.0.2.68'), r'^250 '),
            ('VRFY ' + forged('192.0.2.69'), r'^252 '),
            # a sender the mail hook writes to its stderr
            ('MAIL FROM:<"x from [192.0.2.71] mechanism=PLAIN"@example.org>', r'^250 '),
            ('RSET', r'^250 '),
        ])
        ok(srv.wait_log(r'hook mail: .*192\.0\.2\.70', timeout=10),
           'the mail hook\'s stderr reached the log')
        ok(srv.wait_log(r'authentication failed', count=3, timeout=10),
           'three genuine failures are logged')
    log = srv.logfile
    text = srv.log_text()
    raw = [l for l in text.splitlines() if re.search(r'from \[192\.0\.2\.', l)]
    ok(not raw, 'no forged "from [ADDRESS]" reaches the log unescaped', '\n'.join(raw[:8]))

    f2b = d + '/f2b'
    os.makedirs(f2b + '/filter.d')
    os.symlink(F2B_COMMON, f2b + '/filter.d/common.conf')
    with open(f2b + '/filter.d/posternd.conf', 'w') as f:
        f.write(shipped)
    r = subprocess.run(['fail2ban-regex', '-o', 'ip', log, f2b + '/filter.d/posternd.conf'],
                       capture_output=True, text=True, timeout=120)
    ips = r.stdout.split()
    ok(r.returncode == 0, 'fail2ban-regex runs with the shipped filter', r.stderr[-2000:])
    is_(ips, ['127.0.0.1'] * 3, 'the three genuine failures match, each with 127.0.0.1')
    bad = [ip for ip in ips if ip != '127.0.0.1']
    ok(not bad, 'no forged line yields another address', '\n'.join(bad))
    if bad or len(ips) != 3:
        note(text[-4000:])
    return TAP.done()


if __name__ == '__main__':
    postern_test.run_main(main)
