#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""webhook.py - postern-webhook as posternd's data step, driven by smtplib:
against hooks/examples/webhook-receiver.py (the signature checked there:
250 and the message stored byte for byte; a wrong secret -> 403 -> 554),
and against a receiver in this test that answers each status class
(2xx -> 250; 408, 429, 5xx -> 451; other 4xx -> 554; 3xx -> 451), stalls
(-> 451), or is down (-> 451); exactly one POST per message.  A wrong
command line: 451 to every request and the usage in the log."""
import hashlib
import smtplib
import ssl
import hmac
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

from postern_test import TAP, Server, workdir, run_main, free_port, make_cert, BUILDDIR
from postern_gateway import gateway_config, send

SRCDIR = os.environ.get('POSTERN_SRCDIR') or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
MSG = b'Subject: hook\r\nFrom: a@example.org\r\n\r\nbody line\r\n.dot\r\n'


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'       # keep-alive, so that reuse shows
    status, delay, posts, peers = 200, 0, [], []
    conns = []                          # open keep-alive connections

    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        Recorder.conns.append(self.connection)

    @staticmethod
    def down(httpd):
        """Stop listening AND cut the kept connections: their handler
        threads would otherwise go on answering (a receiver that is down
        answers nothing)."""
        httpd.shutdown()
        httpd.server_close()
        for c in Recorder.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        Recorder.conns = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        Recorder.posts.append((dict(self.headers), body))
        Recorder.peers.append(self.client_address)
        time.sleep(Recorder.delay)
        try:
            self.send_response(Recorder.status)
            self.send_header('Content-Length', '0')
            self.end_headers()
        except OSError:
            pass

    def log_message(self, *a):
        pass


def server(d, url, secret_file, timeout=None):
    args = ['--secret-file', secret_file] + (['--timeout', str(timeout)] if timeout else []) + [url]
    return Server(dir=d, config=gateway_config(d, 'postern-webhook', args, stages=('data',), timeout=20))


def secret(d, name, text):
    p = os.path.join(d, name)
    with open(p, 'w') as f:
        f.write(text + '\n')
    os.chmod(p, 0o644)
    return p


def t_example_receiver():
    d = workdir()
    out = os.path.join(d, 'received')
    os.mkdir(out)
    good, bad = secret(d, 'secret', 's3cr3t-shared'), secret(d, 'wrong', 'not-the-secret')
    port = free_port()
    recv = subprocess.Popen([sys.executable, os.path.join(SRCDIR, 'hooks/examples/webhook-receiver.py'),
                             good, str(port), out], stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                __import__('socket').create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        with server(d, 'http://127.0.0.1:%d/mail' % port, good) as srv:
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
            TAP.is_(r['data'][0] if r['data'] else None, 250, 'signed POST to the example receiver: 250')
            files = os.listdir(out)
            TAP.is_(len(files), 1, 'the receiver stored it once')
            body = open(os.path.join(out, files[0]), 'rb').read() if files else b''
            TAP.ok(body.endswith(b'Subject: hook\nFrom: a@example.org\n\nbody line\n.dot\n'),
                   'the message as the data step reads it (LF line ends, no dot-stuffing)', body)
        with server(workdir(), 'http://127.0.0.1:%d/mail' % port, bad) as srv:
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
            TAP.ok(r['data'] and r['data'][0] == 554, 'a wrong secret: the receiver says 403: 554', r)
            TAP.is_(len(os.listdir(out)), 1, 'and stores nothing')
    finally:
        recv.terminate()
        recv.wait()


def t_status_classes():
    d = workdir()
    key = secret(d, 'secret', 'k')
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d/in' % httpd.server_address[1]
    with server(d, url, key, timeout=3) as srv:
        for status, want in ((200, 250), (202, 250), (204, 250), (408, 451), (429, 451), (500, 451),
                             (503, 451), (400, 554), (404, 554), (413, 554), (302, 451)):
            Recorder.status, Recorder.posts = status, []
            r = send(srv.port, 'alice@example.org', ['bob@example.org', '"odd,name x"@example.org'], MSG)
            TAP.is_(r['data'][0] if r['data'] else None, want, 'HTTP %d -> %d' % (status, want))
            TAP.is_(len(Recorder.posts), 1, 'HTTP %d: exactly one POST' % status)
        h, body = Recorder.posts[0] if Recorder.posts else ({}, b'')
        ts = h.get('X-Postern-Timestamp', '')
        want = 'sha256=' + hmac.new(b'k', ts.encode() + b'.' + body, hashlib.sha256).hexdigest()
        TAP.is_(h.get('X-Postern-Signature'), want, 'the signature is HMAC-SHA256(secret, timestamp "." body)')
        TAP.ok(ts.isdigit() and abs(int(ts) - time.time()) < 60, 'the timestamp is now', ts)
        TAP.is_(h.get('Content-Type'), 'message/rfc822', 'Content-Type: message/rfc822')
        TAP.is_(h.get('X-Postern-Mail-From'), 'alice@example.org', 'X-Postern-Mail-From')
        TAP.is_(h.get('X-Postern-Rcpt-To'), 'bob@example.org,"odd+2Cname+20x"@example.org',
                'X-Postern-Rcpt-To: comma-separated, a comma and a space in an address as xtext')
        Recorder.status, Recorder.peers = 200, []
        s = smtplib.SMTP('127.0.0.1', srv.port, timeout=30)
        codes = []
        for i in range(3):
            try:
                s.sendmail('alice@example.org', ['bob@example.org'], MSG)
                codes.append(250)
            except smtplib.SMTPException as e:
                codes.append(str(e))
        s.quit()
        TAP.is_(codes, [250, 250, 250], 'three messages in one session')
        TAP.ok(len(Recorder.peers) == 3 and len(set(Recorder.peers)) == 1,
               'over one kept HTTP connection (one curl handle per worker)', Recorder.peers)
        Recorder.status, Recorder.delay, Recorder.posts = 200, 6, []
        t0 = time.monotonic()
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
        TAP.ok(r['data'] and r['data'][0] == 451, 'a receiver slower than --timeout: 451', r)
        TAP.ok(time.monotonic() - t0 < 15, 'within the timeout')
        Recorder.delay = 0
        Recorder.down(httpd)
        r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
        TAP.ok(r['data'] and r['data'][0] == 451, 'the receiver down: 451', r)


def t_https():
    """TLS: verified against --cacert; a certificate nobody vouches for -> 451."""
    d = workdir()
    key = secret(d, 'secret', 'k')
    cert, pkey = make_cert(d)
    os.chmod(cert, 0o644)
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, pkey)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = 'https://localhost:%d/in' % httpd.server_address[1]
    Recorder.status, Recorder.delay, Recorder.posts = 200, 0, []
    try:
        d2 = workdir()
        args = ['--secret-file', key, '--cacert', cert, url]
        with Server(dir=d2, config=gateway_config(d2, 'postern-webhook', args, stages=('data',))) as srv:
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
            TAP.is_(r['data'][0] if r['data'] else None, 250, 'https with --cacert: verified, 250')
        with server(workdir(), url, key, timeout=5) as srv:
            r = send(srv.port, 'alice@example.org', ['bob@example.org'], MSG)
            TAP.ok(r['data'] and r['data'][0] == 451, 'https to a certificate no CA vouches for: 451', r)
        TAP.is_(len(Recorder.posts), 1, 'and nothing was POSTed over the unverified connection')
    finally:
        httpd.shutdown()
        httpd.server_close()


def t_usage():
    prog = os.path.join(BUILDDIR, 'hooks', 'postern-webhook')
    for args in ([], ['--secret-file', '/nonexistent', 'http://127.0.0.1:1/'], ['http://127.0.0.1:1/']):
        r = subprocess.run([prog] + args, input=b'request=postern_data\nsize=0\n\nrequest=x\n\n',
                           capture_output=True, timeout=30, env={'POSTERN_PERSISTENT': '1', 'PATH': '/usr/bin:/bin'})
        out, err = r.stdout.decode(), r.stderr.decode('latin-1')
        TAP.ok(out == 'action=451 4.3.0 postern-webhook is misconfigured (see the log)\n\n' * 2 and
               r.returncode == 75 and 'usage: ' in err,
               'a wrong command line (%s): 451 4.3.0 to each request, the usage in the log, exit 75'
               % ' '.join(args), (out, err, r.returncode))


def main():
    if not os.access(os.path.join(BUILDDIR, 'hooks', 'postern-webhook'), os.X_OK):
        return TAP.skip_all('postern-webhook not built: apt-get install libcurl4-gnutls-dev, then configure')
    TAP.run(t_example_receiver)
    TAP.run(t_status_classes)
    TAP.run(t_https)
    TAP.run(t_usage)
    return TAP.done()


run_main(main)
