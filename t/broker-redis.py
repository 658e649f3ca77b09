#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""broker-redis.py - hooks/examples/redis-xadd.sh as posternd's data hook
against a private redis-server (127.0.0.1, a free port, its own directory,
appendonly with appendfsync always; started and stopped by PID): each 250
is exactly one stream entry with the message and the envelope; Redis not
there -> 451."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from postern_test import TAP, Server, workdir, run_main, free_port, install_program
from postern_gateway import send

SRCDIR = os.environ.get('POSTERN_SRCDIR') or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def main():
    d = workdir()
    rd = os.path.join(d, 'redis')
    os.makedirs(rd)
    port = free_port()
    redis = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--dir', rd,
                              '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
                              '--daemonize', 'no'], stdout=open(rd + '/log', 'ab'), stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                if time.monotonic() > end or redis.poll() is not None:
                    TAP.ok(False, 'start redis-server')
                    return TAP.done()
                time.sleep(0.05)
        hook = install_program(d, os.path.join(SRCDIR, 'hooks/examples/redis-xadd.sh'))
        url = 'redis://127.0.0.1:%d/0' % port
        msgs = [b'Subject: stream %d\r\n\r\nbody %d\r\n' % (i, i) for i in range(3)]
        with Server(dir=d, config={'hooks': {'data': '%s %s mail' % (hook, url)}}) as srv:
            codes = [send(srv.port, 'alice@example.org', ['bob@example.org', 'carol@example.org'], m)['data']
                     for m in msgs]
            TAP.is_([c[0] if c else None for c in codes], [250, 250, 250], 'three messages: 250 each')
            n = subprocess.run(['redis-cli', '-u', url, 'XLEN', 'mail'], stdout=subprocess.PIPE).stdout.strip()
            TAP.is_(n, b'3', 'exactly three entries in the stream')
            out = subprocess.run(['redis-cli', '-u', url, 'XRANGE', 'mail', '-', '+'],
                                 stdout=subprocess.PIPE).stdout
            TAP.ok(out.count(b'alice@example.org') == 3 and b'bob@example.org\ncarol@example.org' in out,
                   'with the envelope', out[:500])
            TAP.ok(all(b'body %d\n' % i in out for i in range(3)), 'and each message', out[:500])
        d2 = workdir()
        hook = install_program(d2, os.path.join(SRCDIR, 'hooks/examples/redis-xadd.sh'))
        with Server(dir=d2, config={'hooks': {'data': '%s redis://127.0.0.1:%d/0 mail' % (hook, free_port())}}) as srv:
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], msgs[0])
            TAP.ok(r['data'] and r['data'][0] == 451, 'no Redis: 451', r)
    finally:
        redis.send_signal(signal.SIGTERM)
        try:
            redis.wait(timeout=20)
        except subprocess.TimeoutExpired:
            redis.kill()
            redis.wait()
    return TAP.done()


if shutil.which('redis-server') is None or shutil.which('redis-cli') is None:
    print('1..0 # SKIP redis-server missing: apt-get install redis-server redis-tools')
    sys.exit(0)
run_main(main)
