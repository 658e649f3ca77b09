#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""cluster.py - the "Running several nodes" recipe of the README, for real.

Three posternd nodes (proxy_protocol = yes, one ticket_key_file for all,
every node storing into one shared Maildir) behind a real HAProxy (mode tcp,
send-proxy-v2, SMTP health checks that send the PROXY header too).  Twenty
clients send mail through HAProxy; one node is SIGKILLed (master and
workers) in the middle of the run.  Checked:

  - every message that got 250 is stored exactly once (a duplicate is
    allowed only for a message whose connection was cut after its final
    dot: the client never got an answer and must retry);
  - mail goes on flowing through the two other nodes after the kill;
  - HAProxy marks the dead node down;
  - TLS: a session ticket issued by one node resumes on the others (the
    connections go round-robin through HAProxy).

Skips with the apt-get line when haproxy is missing.
"""
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from postern_test import (TAP, Server, BUILDDIR, free_port, workdir, run_main, install_program,
                          alive, children, make_cert)
from postern_load import run_load

HAPROXY = next((p for p in ('/usr/sbin/haproxy', '/usr/local/sbin/haproxy') if os.access(p, os.X_OK)), None)
NODES = 3


def haproxy_config(d, smtp_port, smtps_port, nodes):
    backend = lambda name, ep: "\n".join(                                           # noqa: E731
        "\tserver n%d 127.0.0.1:%d send-proxy-v2 check check-send-proxy inter 300ms fall 1 rise 2"
        % (i, n.ports[ep]) for i, n in enumerate(nodes))
    return f"""global
	pidfile {d}/haproxy.pid
	maxconn 500

defaults
	mode tcp
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	retries 3
	option redispatch

frontend smtp
	bind 127.0.0.1:{smtp_port}
	default_backend smtp_nodes

frontend smtps
	bind 127.0.0.1:{smtps_port}
	default_backend smtps_nodes

backend smtp_nodes
	balance roundrobin
	option smtpchk EHLO haproxy.test
{backend("smtp", "smtp")}

backend smtps_nodes
	balance roundrobin
{backend("smtps", "smtps")}
"""


def start_haproxy(d, text):
    with open(d + '/haproxy.cfg', 'w') as f:
        f.write(text)
    log = open(d + '/haproxy.log', 'wb')
    return subprocess.Popen([HAPROXY, '-f', d + '/haproxy.cfg', '-db'], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def wait_greeting(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
                s.settimeout(3)
                if s.recv(512).startswith(b'220 '):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def kill_node(node):
    """SIGKILL a node's master and every worker: a crashed machine."""
    pids = [node.pid] + children(node.pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    node.proc.wait()
    end = time.monotonic() + 10
    while any(alive(p) for p in pids[1:]) and time.monotonic() < end:
        time.sleep(0.05)


def tls_round_robin(port, n=6):
    """N implicit-TLS connections through HAProxy, each offering the
    session of the first: how many resumed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    session, resumed = None, 0
    for i in range(n):
        with socket.create_connection(('127.0.0.1', port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname='localhost', session=session) as s:
                f = s.makefile('rb')
                f.readline()                    # greeting
                s.sendall(b'EHLO c.test\r\n')   # a TLS 1.3 ticket arrives by now
                while f.readline()[3:4] == b'-':
                    pass
                if i == 0:
                    session = s.session
                elif s.session_reused:
                    resumed += 1
                s.sendall(b'QUIT\r\n')
                f.readline()
    return resumed


def stored(maildir):
    try:
        return len(os.listdir(maildir + "/new"))
    except OSError:
        return 0


def main():
    shared = workdir('postern-cluster-')
    maildir = shared + '/Maildir'
    keyfile = shared + '/ticket.key'
    r = subprocess.run([BUILDDIR + '/postern-ticket-key', keyfile], capture_output=True, text=True)
    TAP.ok(r.returncode == 0, 'postern-ticket-key makes the shared key file', r.stderr)
    cert, key = make_cert(shared)
    nodes = []
    hp = None
    try:
        for i in range(NODES):
            d = workdir('postern-node%d-' % i)
            hook = install_program(d, BUILDDIR + '/hooks/postern-maildir')
            nodes.append(Server(dir=d, endpoints=('smtp', 'smtps'), config={
                'server': {'hostname': 'node%d.test' % i},
                'limits': {'max_connections_per_client': 0},
                'tls': {'certificate': cert, 'key': key, 'ticket_key_file': keyfile},
                'hooks': {'data': '%s %s' % (hook, maildir), 'persistent': 'data'},
                'smtp': {'proxy_protocol': 'yes', 'proxy_trusted': '127.0.0.1/32'},
                'smtps': {'proxy_protocol': 'yes', 'proxy_trusted': '127.0.0.1/32', 'tls': 'implicit'},
            }))
        hd = workdir('postern-haproxy-')
        smtp_port, smtps_port = free_port(), free_port()
        hp = start_haproxy(hd, haproxy_config(hd, smtp_port, smtps_port, nodes))
        TAP.ok(wait_greeting(smtp_port), 'HAProxy passes SMTP through to the nodes')

        # TLS first, with all three nodes up: round-robin over them.
        TAP.is_(tls_round_robin(smtps_port, 6), 5,
                'a ticket from one node resumes on every node (5 of 5 later connections)')

        # Mail, with a node killed in the middle.
        stop = threading.Event()
        result = {}
        t = threading.Thread(target=lambda: result.update(
            run_load('127.0.0.1', smtp_port, clients=20, seconds=8, maildir=maildir, stop=stop,
                     per_session=5, timeout=15)))
        t.start()
        end = time.monotonic() + 6      # the kill comes once mail flows
        while stored(maildir) < 300 and time.monotonic() < end:
            time.sleep(0.05)
        before = stored(maildir)
        kill_node(nodes[1])
        TAP.ok(not alive(nodes[1].pid), 'node 1 is gone (SIGKILL to master and workers)')
        t.join(60)
        TAP.ok(not t.is_alive(), 'the clients finish')
        after = stored(maildir)
        TAP.ok(result.get('accepted', 0) > 0, 'messages accepted: %s' % result.get('accepted'))
        TAP.ok(after > before + 20, 'mail goes on through the other nodes (%d stored before the kill, %d after)'
               % (before, after))
        TAP.is_(result.get('lost'), [], 'every 250 is stored (none lost)')
        TAP.is_(result.get('bad_stored'), [], 'nothing stored that was refused or not fully sent')
        dups = result.get('duplicates', 0)
        TAP.ok(dups <= len(result.get('unack_stored', [])),
               'duplicates (%d) only for messages cut after the final dot' % dups)
        TAP.is_(result.get('incomplete'), [], 'no stored message is incomplete')
        with open(hd + '/haproxy.log', 'rb') as f:
            hlog = f.read().decode('latin-1')
        TAP.ok('n1 is DOWN' in hlog, 'HAProxy marks the killed node down', hlog[-800:])
    finally:
        if hp is not None:
            hp.terminate()
            hp.wait(10)
        for i, n in enumerate(nodes):
            if i != 1:
                TAP.is_(n.stop(), 0, 'node %d stops cleanly' % i)
            else:
                n.stop(check=False)
    return TAP.done()


if __name__ == '__main__':
    if HAPROXY is None:
        sys.exit(TAP.skip_all('haproxy missing: apt-get install haproxy'))
    run_main(main, 'certtool')
