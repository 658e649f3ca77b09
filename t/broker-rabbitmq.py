#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""broker-rabbitmq.py - hooks/examples/rabbitmq-publish.py as posternd's
data hook, against a private RabbitMQ node (its own node name, AMQP port,
epmd port, distribution port, mnesia, log and config directories, all on
127.0.0.1; started and stopped by PID): each 250 is exactly one persistent
message in the durable queue; a broker that is not there -> 451."""
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
PY = '/usr/bin/python3'     # Debian's python3-pika is for the system interpreter
START_TIMEOUT = 150


def have_pika():
    return subprocess.run([PY, '-c', 'import pika'], stderr=subprocess.DEVNULL).returncode == 0


class Rabbit:
    def __init__(self, d):
        self.d, self.port, self.epmd_port, self.dist = d, free_port(), free_port(), free_port()
        os.makedirs(d, exist_ok=True)
        with open(d + '/enabled_plugins', 'w') as f:
            f.write('[].\n')
        with open(d + '/rabbitmq.conf', 'w') as f:
            f.write('listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n' % self.port)
        self.env = dict(os.environ, HOME=d, ERL_EPMD_PORT=str(self.epmd_port),
                        RABBITMQ_NODENAME='postern-test-%d@localhost' % os.getpid(),
                        RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
                        RABBITMQ_DIST_PORT=str(self.dist), RABBITMQ_MNESIA_BASE=d + '/mnesia',
                        RABBITMQ_LOG_BASE=d + '/log', RABBITMQ_CONFIG_FILE=d + '/rabbitmq',
                        RABBITMQ_ENABLED_PLUGINS_FILE=d + '/enabled_plugins',
                        RABBITMQ_PLUGINS_EXPAND_DIR=d + '/plugins-expand', RABBITMQ_LOGS=d + '/rabbit.log',
                        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}')
        self.epmd = self.proc = None

    def start(self):
        self.epmd = subprocess.Popen(['epmd', '-address', '127.0.0.1', '-port', str(self.epmd_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = subprocess.Popen(['/usr/lib/rabbitmq/bin/rabbitmq-server'], env=self.env, cwd=self.d,
                                     stdin=subprocess.DEVNULL, stdout=open(self.d + '/out.log', 'ab'),
                                     stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < START_TIMEOUT:
            if self.proc.poll() is not None:
                raise RuntimeError('rabbitmq-server exited: ' + open(self.d + '/out.log').read()[-1500:])
            try:
                socket.create_connection(('127.0.0.1', self.port), 1).close()
                return time.monotonic() - t0
            except OSError:
                time.sleep(0.5)
        raise RuntimeError('rabbitmq-server did not listen within %d s' % START_TIMEOUT)

    def stop(self):
        for p in (self.proc, self.epmd):
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def drain(self, queue):
        """The messages in QUEUE (removed), as (properties, body); and
        whether the queue is durable."""
        code = '''
import pika, sys, pickle
c = pika.BlockingConnection(pika.URLParameters('amqp://guest:guest@127.0.0.1:%d/%%2F'))
ch = c.channel()
ch.queue_declare(%r, durable=True, passive=True)
out = []
while True:
    m, p, b = ch.basic_get(%r, auto_ack=True)
    if m is None:
        break
    out.append((p.delivery_mode, p.content_type, (p.headers or {}).get('mail_from'), (p.headers or {}).get('rcpt_to'), b))
try:
    ch.queue_declare(%r, durable=False)
    durable = False
except pika.exceptions.ChannelClosedByBroker:
    durable = True
sys.stdout.buffer.write(pickle.dumps((out, durable)))
''' % (self.port, queue, queue, queue)
        import pickle
        r = subprocess.run([PY, '-c', code], stdout=subprocess.PIPE, timeout=60)
        return pickle.loads(r.stdout) if r.returncode == 0 else ([], None)


def run(rabbit):
    d = workdir()
    hook = install_program(d, os.path.join(SRCDIR, 'hooks/examples/rabbitmq-publish.py'))
    url = 'amqp://guest:guest@127.0.0.1:%d/%%2F' % rabbit.port
    msgs = [b'Subject: broker %d\r\n\r\nbody %d\r\n' % (i, i) for i in range(3)]
    with Server(dir=d, config={'hooks': {'data': '%s %s %s mail' % (PY, hook, url), 'data_timeout': 60}}) as srv:
        codes = [send(srv.port, 'alice@example.org', ['bob@example.org', 'carol@example.org'], m)['data']
                 for m in msgs]
        TAP.is_([c[0] if c else None for c in codes], [250, 250, 250], 'three messages: 250 each')
        got, durable = rabbit.drain('mail')
        TAP.is_(len(got), 3, 'exactly three messages in the queue')
        TAP.is_(durable, True, 'the queue is durable')
        TAP.ok(all(g[0] == 2 for g in got), 'every message persistent (delivery_mode 2)', got)
        TAP.ok(all(g[1] == 'message/rfc822' and g[2] == 'alice@example.org' and
                   g[3] == ['bob@example.org', 'carol@example.org'] for g in got), 'with the envelope', got)
        TAP.ok(sorted(g[4].split(b'\n\n', 1)[1] for g in got) == [b'body 0\n', b'body 1\n', b'body 2\n'],
               'the bodies, once each', got)
    down = 'amqp://guest:guest@127.0.0.1:%d/%%2F' % free_port()
    d2 = workdir()
    hook = install_program(d2, os.path.join(SRCDIR, 'hooks/examples/rabbitmq-publish.py'))
    with Server(dir=d2, config={'hooks': {'data': '%s %s %s mail' % (PY, hook, down), 'data_timeout': 60}}) as srv:
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], msgs[0])
        TAP.ok(r['data'] and r['data'][0] == 451, 'no broker: 451', r)


def main():
    rabbit = Rabbit(os.path.join(workdir(), 'rabbit'))
    try:
        took = rabbit.start()
        TAP.diag('RabbitMQ started in %.1f s' % took)
        TAP.run(run, rabbit)
    except RuntimeError as e:
        TAP.ok(False, 'start rabbitmq', str(e))
    finally:
        rabbit.stop()
    return TAP.done()


if not os.path.exists('/usr/lib/rabbitmq/bin/rabbitmq-server') or shutil.which('epmd') is None:
    print('1..0 # SKIP rabbitmq-server missing: apt-get install rabbitmq-server')
    sys.exit(0)
if not have_pika():
    print('1..0 # SKIP python3-pika missing: apt-get install python3-pika')
    sys.exit(0)
run_main(main)
