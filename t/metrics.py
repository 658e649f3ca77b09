#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# metrics.py - `[metrics] listen`: the Prometheus text at /metrics.
#
#   - a known sequence (sessions on two endpoints, an accepted message, a
#     message refused by the data hook, an AUTH failure, a full and a
#     resumed TLS handshake) moves the counters by exactly that much;
#   - `promtool check metrics` (Debian prometheus) accepts the text;
#   - HEAD, 404, 405; a client that sends nothing does not stop the next
#     scrape; the metrics process runs as the unprivileged user and is
#     started again after SIGKILL;
#   - SIGHUP keeps the counters and restarts the metrics process quietly;
#   - `posternd -S` during held sessions, and without a daemon;
#   - a real Prometheus scrapes it (its query API shows the value);
#   - `posternd -t` tells an endpoint named [metrics] to rename itself.
#
# Python 3 standard library only.  Prints TAP.
import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import json

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import (TAP, BUILDDIR, IS_ROOT, run_main, serve_tests, free_port,  # noqa: E402
                          write_script, children, alive, client_context, nobody_ids, workdir)

ok, note = TAP.ok, TAP.diag


class Server(postern_test.Server):
    """posternd with smtp (plain, AUTH allowed without TLS) and smtps
    (implicit TLS), a data hook that refuses mail from reject@test, an
    auth hook that takes the password "good", and [metrics]."""

    def __init__(self):
        d = workdir()
        self.mport = free_port()
        write_script(d + '/auth-hook', '#!/bin/sh\nread user\nread pass\n[ "$pass" = good ]\n')
        postern_test.install_program(d, os.path.join(BUILDDIR, 'hooks', 'postern-maildir'))
        write_script(d + '/rcpt-hook', '#!/bin/sh\n[ "$POSTERN_RCPT" = slow@test ] && sleep 4\nexit 0\n')
        write_script(d + '/data-hook', '#!/bin/sh\n[ "$POSTERN_MAIL_FROM" = reject@test ] && exit 1\n'
                     'exec %s/postern-maildir %s/Maildir\n' % (d, d))
        postern_test.Server.__init__(
            self, endpoints=('smtp', 'smtps'), tls=True, dir=d,
            config={'hooks': {'data': d + '/data-hook', 'auth': d + '/auth-hook',
                              'rcpt': d + '/rcpt-hook'},
                    'smtp': {'auth': 'optional', 'insecure_auth': 'yes'},
                    'smtps': {'tls': 'implicit'},
                    'metrics': {'listen': '127.0.0.1:%d' % self.mport}})


def http(port, request, timeout=10):
    """Send REQUEST (bytes), read to EOF: (status code, headers, body)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.sendall(request)
    data = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    m = re.match(rb'HTTP/1\.[01] (\d{3})', head)
    return (int(m.group(1)) if m else None), head.decode('latin-1'), body.decode('utf-8', 'replace')


def scrape(srv, timeout=10):
    end = time.monotonic() + timeout
    while True:
        try:
            code, _, body = http(srv.mport, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
            if code == 200:
                return body
        except OSError:
            pass
        if time.monotonic() > end:
            return None
        time.sleep(0.05)


def parse(text):
    """{'name{labels}': value} of the sample lines."""
    out = {}
    for line in (text or '').splitlines():
        if line and not line.startswith('#'):
            k, _, v = line.rpartition(' ')
            out[k] = float(v)
    return out


def metrics_pid(srv):
    for pid in children(srv.pid):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                if b'metrics' in f.read():
                    return pid
        except OSError:
            pass
    return None


def wait_for(cond, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def send(c, sender, expect):
    c.mail(sender)
    c.rcpt('rcpt@test')
    code, msg = c.data(b'Subject: t\r\n\r\nbody\r\n')
    return code == expect, (code, msg)


def tls_session(port, ctx, session=None):
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10),
                                     session=session)
    f = s.makefile('rb')
    greeting = f.readline()
    s.sendall(b'EHLO client.test\r\n')
    while True:             # the TLS 1.3 ticket has arrived once EHLO is answered
        line = f.readline()
        if not line or line[3:4] == b' ':
            break
    s.sendall(b'QUIT\r\n')
    f.readline()
    reused, sess = s.session_reused, s.session
    s.close()
    return greeting.startswith(b'220 '), reused, sess


def test_counters(srv):
    before = parse(scrape(srv))
    ok(before, 'the first scrape is answered')
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=10) as c:
        c.ehlo('client.test')
        code, _ = c.docmd('AUTH', 'PLAIN ' + base64.b64encode(b'\0alice\0bad').decode())
        ok(code == 535, 'AUTH with a wrong password: 535', code)
        good, why = send(c, 'ok@test', 250)
        ok(good, 'a message is accepted', why)
        good, why = send(c, 'reject@test', 550)
        ok(good, 'a message is refused by the data hook', why)
    ctx = client_context()
    g1, r1, sess = tls_session(srv.ports['smtps'], ctx)
    g2, r2, _ = tls_session(srv.ports['smtps'], ctx, sess)
    ok(g1 and g2 and not r1 and r2, 'the second TLS session resumed the first', (g1, g2, r1, r2))
    # a port probe (connect, close: no handshake tried, none failed), then
    # plaintext instead of a ClientHello (a failed handshake)
    socket.create_connection(('127.0.0.1', srv.ports['smtps']), timeout=10).close()
    g = socket.create_connection(('127.0.0.1', srv.ports['smtps']), timeout=10)
    g.sendall(b'EHLO client.test\r\n')
    try:
        while g.recv(4096):
            pass
    except ConnectionResetError:    # closed with our bytes unread
        pass
    g.close()
    # the counts land when the sessions close: wait for the smtps ones
    want = {
        'postern_sessions_total{endpoint="smtp"}': 1,
        'postern_sessions_total{endpoint="smtps"}': 4,
        'postern_messages_total{endpoint="smtp",outcome="accepted"}': 1,
        'postern_messages_total{endpoint="smtp",outcome="rejected"}': 1,
        'postern_messages_total{endpoint="smtp",outcome="tempfailed"}': 0,
        'postern_messages_total{endpoint="smtp",outcome="discarded"}': 0,
        'postern_messages_total{endpoint="smtps",outcome="accepted"}': 0,
        'postern_auth_total{result="failure"}': 1,
        'postern_auth_total{result="success"}': 0,
        'postern_tls_handshakes_total{result="full"}': 1,
        'postern_tls_handshakes_total{result="resumed"}': 1,
        'postern_tls_handshakes_total{result="failed"}': 1,
        'postern_step_calls_total{step="data",stage="data",outcome="accept"}': 1,
        'postern_step_calls_total{step="data",stage="data",outcome="reject"}': 1,
        'postern_step_calls_total{step="auth",stage="auth",outcome="reject"}': 1,
        'postern_replies_total{class="5xx"}': 2,
    }

    def deltas():
        now = parse(scrape(srv))
        return {k: now.get(k, 0) - before.get(k, 0) for k in want}, now
    d, now = wait_for(lambda: (lambda r: r if r[0] == want else None)(deltas()), timeout=10) or deltas()
    ok(d == want, 'every counter moved by exactly the sequence',
       '\n'.join('%s: want %s got %s' % (k, want[k], d[k]) for k in want if d[k] != want[k]))
    rb = now.get('postern_received_bytes_total', 0) - before.get('postern_received_bytes_total', 0)
    ok(rb > 100, 'postern_received_bytes_total grew by the bytes read (%d)' % rb)
    ok(now.get('postern_step_duration_seconds_count{step="data",stage="data"}', 0) -
       before.get('postern_step_duration_seconds_count{step="data",stage="data"}', 0) == 2,
       'the data step latency histogram counted 2 calls')
    # the pool may be between workers at the scrape: wait for an idle one
    now = wait_for(lambda: (lambda m: m if m.get('postern_workers{state="idle"}', 0) >= 1 else None)(
        parse(scrape(srv))), timeout=10) or parse(scrape(srv))
    ok(now.get('postern_workers{state="idle"}', 0) >= 1 and 'postern_stress' in now,
       'postern_workers and postern_stress from the scoreboard')
    text = scrape(srv)
    if shutil.which('promtool'):
        p = subprocess.run(['promtool', 'check', 'metrics'], input=text.encode(),
                           capture_output=True, timeout=60)
        ok(p.returncode == 0, 'promtool check metrics accepts the text',
           (p.stdout + p.stderr).decode()[-2000:])
    else:
        ok(True, '# SKIP promtool missing: apt-get install prometheus')


def test_http(srv):
    code, head, body = http(srv.mport, b'HEAD /metrics HTTP/1.0\r\n\r\n')
    ok(code == 200 and body == '' and 'Content-Length: ' in head, 'HEAD: 200, headers only', (code, head))
    code, _, _ = http(srv.mport, b'GET /nothing HTTP/1.0\r\n\r\n')
    ok(code == 404, 'another path: 404', code)
    code, _, _ = http(srv.mport, b'POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n')
    ok(code == 405, 'POST: 405', code)
    code, _, _ = http(srv.mport, b'garbage\r\n\r\n')
    ok(code == 400, 'not HTTP: 400', code)
    slow = socket.create_connection(('127.0.0.1', srv.mport), timeout=10)
    slow.sendall(b'GET /met')
    t0 = time.monotonic()
    body = scrape(srv, timeout=15)
    took = time.monotonic() - t0
    slow.close()
    ok(body is not None and 'postern_sessions_total' in body and took < 10,
       'a client that stalls does not stop the next scrape (answered in %.1f s)' % took)


def test_process(srv):
    pid = metrics_pid(srv)
    ok(pid is not None, 'the metrics process is a child of the master', children(srv.pid))
    if pid is None:
        return
    with open('/proc/%d/status' % pid) as f:
        uid = int(re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1))
    want = nobody_ids()[0] if IS_ROOT else os.geteuid()
    ok(uid == want and (uid != 0 or not IS_ROOT), 'it runs as the unprivileged user (uid %d)' % uid)
    fds = os.listdir('/proc/%d/fd' % pid)
    ok(len(fds) <= 6, 'it holds only its own descriptors (%d)' % len(fds), fds)
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (lambda p: p if p and p != pid else None)(metrics_pid(srv)), timeout=10)
    ok(new is not None and alive(new), 'after SIGKILL another metrics process is started', new)
    ok(scrape(srv) is not None, 'and it answers')
    ok(srv.wait_log(r'metrics process %d died of signal 9' % pid, timeout=5) is not None,
       'the death is logged')


def test_reload(srv):
    """SIGHUP: the counters live on; the metrics process is started again
    (it learns the new max_workers) without a warning."""
    before = parse(scrape(srv))
    pid = metrics_pid(srv)
    os.kill(srv.pid, signal.SIGHUP)
    ok(srv.wait_log(r'configuration reloaded', timeout=15) is not None, 'SIGHUP reloads')
    new = wait_for(lambda: (lambda p: p if p and p != pid else None)(metrics_pid(srv)), timeout=10)
    ok(new is not None, 'a new metrics process after the reload', (pid, new))
    after = parse(scrape(srv))
    k = 'postern_sessions_total{endpoint="smtp"}'
    ok(after.get(k, 0) >= before.get(k, 0) > 0, 'the counters survive the reload',
       (before.get(k), after.get(k)))
    ok(not re.search(r'metrics process %d (died|exited)' % (pid or 0), srv.log_text()),
       'its planned restart is not logged as a death')


def test_prometheus(srv):
    if not shutil.which('prometheus'):
        ok(True, '# SKIP prometheus missing: apt-get install prometheus')
        return
    d = tempfile.mkdtemp(dir=srv.dir)
    port = free_port()
    with open(d + '/prometheus.yml', 'w') as f:
        f.write('global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: postern\n'
                '    static_configs:\n      - targets: ["127.0.0.1:%d"]\n' % srv.mport)
    log = open(d + '/prometheus.log', 'wb')
    p = subprocess.Popen(['prometheus', '--config.file=' + d + '/prometheus.yml',
                          '--storage.tsdb.path=' + d + '/data', '--web.listen-address=127.0.0.1:%d' % port],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    url = 'http://127.0.0.1:%d/api/v1/query?query=postern_sessions_total' % port

    def query():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.load(r)['data']['result']
                return {x['metric'].get('endpoint'): float(x['value'][1]) for x in res} or None
        except Exception:       # noqa: BLE001 - not up yet
            return None
    try:
        got = wait_for(query, timeout=90)
        ok(got is not None and got.get('smtp', 0) >= 1,
           'a real Prometheus scraped postern_sessions_total', got)
    finally:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_reserved():
    d = workdir()
    conf = d + '/bad.conf'
    with open(conf, 'w') as f:
        f.write('[server]\nspool_directory = %s\n[hooks]\ndata = /bin/true\n'
                '[metrics]\nlisten = 127.0.0.1:2525\ntls = none\n' % d)
    p = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', conf], capture_output=True, timeout=30)
    err = p.stderr.decode()
    ok(p.returncode != 0 and 'rename' in err, 'posternd -t: an endpoint named [metrics] must be renamed', err)
    with open(conf, 'w') as f:
        f.write('[server]\nspool_directory = %s\n[hooks]\ndata = /bin/true\n'
                '[smtp]\nlisten = 127.0.0.1:2525\n[metrics]\nlisten = nowhere\n' % d)
    p = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', conf], capture_output=True, timeout=30)
    err = p.stderr.decode()
    ok(p.returncode != 0 and '[metrics] listen' in err, 'posternd -t: a bad [metrics] listen is refused', err)


def status(srv):
    p = subprocess.run([BUILDDIR + '/posternd', '-S', '-c', srv.conffile], capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def test_status(srv):
    """posternd -S while one client is mid-transaction and another waits
    on its rcpt hook."""
    held = smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=20)
    held.ehlo('held.test')
    held.mail('held@test')
    port = held.sock.getsockname()[1]
    slow = smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=20)
    slow.ehlo('slow.test')
    slow.mail('slow@test')
    slow.send(b'RCPT TO:<slow@test>\r\n')     # the hook sleeps 4 s
    time.sleep(1.2)     # an age of at least one second to show
    rc, out, err = status(srv)
    note(out)
    lines = out.splitlines()
    busy = [l for l in lines if re.match(r'^\d+\s+busy\s+smtp\s+127\.0\.0\.1\s', l)]
    ok(rc == 0, 'posternd -S exits 0 while the daemon runs', err)
    ok(lines and lines[0].startswith('PID') and lines[-1].startswith('total: '),
       'a header line, one line per worker, then the totals', out)
    ok(len(busy) == 2 and all(re.search(r'\s[1-9]\d*s$', l) for l in busy),
       'both held sessions: busy, endpoint smtp, client 127.0.0.1, an age', out)
    ok(any(re.search(r'\srcpt\s', l) for l in busy), 'the one waiting on its hook shows the step rcpt', out)
    m = re.search(r'total: (\d+) workers, (\d+) busy, (\d+) idle', out)
    ok(m and int(m.group(2)) == 2 and int(m.group(1)) == int(m.group(2)) + int(m.group(3)) +
       len([l for l in lines if re.match(r'^\d+\s+(starting|exiting)', l)]),
       'the totals add up', out)
    ok(re.search(r'busy.*held\.test', out) is None and port > 0, 'nothing of the client but its address')
    slow.getreply()
    for c in (held, slow):
        try:
            c.quit()
        except Exception:       # noqa: BLE001
            pass


def main():
    TAP.run(test_reserved)
    started = []

    def start():
        started.append(Server())
        return started[0]
    serve_tests(start, ((test_counters,), (test_status,), (test_http,), (test_process,), (test_reload,),
                        (test_prometheus,)))
    if started:
        rc, out, err = status(started[0])
        ok(rc != 0 and 'not running' in err and out == '',
           'posternd -S with no daemon running: a clear error, exit %d' % rc, (out, err))
    return TAP.done()


run_main(main)
