#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""worker-group.py - posternd refuses to run workers with root's group
(issue 13, finding 9): `[server] group = root` (gid 0) is a start-up error
that names the key and the reason, and nothing listens.  Root only (the
master drops privileges only when started as root)."""
import subprocess
import sys

from postern_test import TAP, BUILDDIR, IS_ROOT, free_port, workdir, ini


def main():
    d = workdir()
    port = free_port()
    conf = d + '/postern.conf'
    with open(conf, 'w') as f:
        f.write(ini({'server': {'hostname': 'mx.test', 'pidfile': d + '/posternd.pid', 'user': 'nobody',
                                'group': 'root', 'spool_directory': d, 'reverse_lookup': 'no'},
                     'hooks': {'data': '/bin/true'},
                     'smtp': {'listen': '127.0.0.1:%d' % port}}))
    r = subprocess.run([BUILDDIR + '/posternd', '-f', '-c', conf], capture_output=True, text=True, timeout=30)
    TAP.ok(r.returncode != 0, 'posternd does not start with group = root (exit %d)' % r.returncode)
    TAP.ok("'root' is gid 0" in r.stderr and 'workers must not run as root' in r.stderr,
           'it says which key and why', r.stderr)
    conf2 = d + '/ok.conf'
    with open(conf2, 'w') as f:
        f.write(ini({'server': {'hostname': 'mx.test', 'pidfile': d + '/posternd.pid', 'user': 'nobody',
                                'group': 'nogroup', 'spool_directory': d, 'reverse_lookup': 'no'},
                     'hooks': {'data': '/bin/true'},
                     'smtp': {'listen': '127.0.0.1:%d' % port}}))
    r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', conf2], capture_output=True, text=True, timeout=30)
    TAP.is_(r.returncode, 0, 'the same config with group = nogroup is fine')
    return TAP.done()


if __name__ == '__main__':
    if not IS_ROOT:
        sys.exit(TAP.skip_all('needs root: the master drops privileges only when started as root'))
    sys.exit(main())
