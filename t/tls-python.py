#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# tls-python.py - the parts of the TLS tests that need a TLS client able to
# take over a raw socket at an exact byte, or to save and reuse sessions:
#
#   - implicit TLS (RFC 8314) with smtplib.SMTP_SSL: the greeting comes
#     inside TLS and a message is delivered;
#   - STARTTLS command injection (CVE-2011-0411, RFC 3207 section 4.2):
#     plaintext pipelined after STARTTLS is never answered inside TLS;
#   - session resumption (TLS 1.3 and TLS 1.2 tickets) across workers;
#   - SIGHUP reload with a new certificate, and a failed reload that keeps
#     the old one.
#
# Python 3 standard library only.  Prints TAP.  Starts its posternd with
# t/lib/postern_test.py.
import os
import re
import signal
import smtplib
import socket
import ssl
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, run_main, serve_tests, Lines, alive, client_context  # noqa: E402

ok, note = TAP.ok, TAP.diag


class Server(postern_test.Server):
    """posternd with endpoints smtp (starttls) and smtps (implicit)."""

    def __init__(self, server=None, certs=(('server', 'localhost'),)):
        postern_test.Server.__init__(
            self, endpoints=('smtp', 'smtps'), certs=certs,
            config={'server': server or {}, 'smtp': {'tls': 'starttls'},
                    'smtps': {'tls': 'implicit'}})


# ---------------------------------------------------------------------------
# Clients

def tls_connect(port, ctx=None, session=None):
    raw = socket.create_connection(('127.0.0.1', port), timeout=10)
    local_port = raw.getsockname()[1]
    s = (ctx or client_context()).wrap_socket(raw, session=session)
    return s, local_port


def worker_of(srv, local_port, endpoint):
    """The pid of the worker that logged the connection from LOCAL_PORT."""
    m = srv.wait_log(r'posternd\[(\d+)\]: \S+: connect from \[127\.0\.0\.1\]:%d to %s$'
                     % (local_port, endpoint), timeout=5)
    return int(m.group(1)) if m else None


def peer_der(port):
    s, _ = tls_connect(port)
    try:
        der = s.getpeercert(binary_form=True)
        greeting = Lines(s).reply()
        return der, greeting
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The tests

def test_implicit(srv):
    before = len(srv.messages())
    try:
        with smtplib.SMTP_SSL('127.0.0.1', srv.ports['smtps'], context=client_context(),
                              timeout=10) as c:
            # The 220 greeting was read by connect(), through the TLS layer.
            code, msg = c.docmd('NOOP')
            ok(code == 250, 'SMTP_SSL: a command inside TLS gets 250')
            ok(isinstance(c.sock, ssl.SSLSocket) and c.sock.version() in ('TLSv1.3', 'TLSv1.2'),
               'SMTP_SSL: the socket speaks TLS (%s)' % getattr(c.sock, 'version', lambda: None)())
            code, msg = c.ehlo('client.test')
            ok(code == 250 and b'STARTTLS' not in msg,
               'SMTP_SSL: EHLO on the implicit-TLS port does not offer STARTTLS', msg)
            refused = c.sendmail('alice@example.org', ['bob@example.org'],
                                 b'Subject: smtp_ssl\r\n\r\nimplicit TLS body\r\n')
            ok(refused == {}, 'SMTP_SSL: message accepted')
    except Exception:
        ok(False, 'SMTP_SSL session', traceback.format_exc())
        return
    msgs = srv.messages()
    ok(len(msgs) == before + 1, 'SMTP_SSL: one more message in the Maildir')
    text = open(msgs[-1], 'rb').read().decode('latin-1') if msgs else ''
    ok(re.search(r'^Subject: smtp_ssl$', text, re.M) and 'implicit TLS body' in text,
       'SMTP_SSL: stored message has the subject and body')
    ok(re.search(r'\A[^\n]*\n\tby mx\.test \(Postern\) with ESMTPS \(TLS1\.[23] TLS_\S+\) id ', text),
       'SMTP_SSL: Received says ESMTPS with the protocol and cipher suite', text[:300])

    # The greeting itself: read through our own TLS socket, and not before.
    raw = socket.create_connection(('127.0.0.1', srv.ports['smtps']), timeout=10)
    raw.settimeout(1.0)
    try:
        early = raw.recv(100)
    except socket.timeout:
        early = None
    ok(early is None, 'implicit TLS: nothing is sent in plaintext before the ClientHello', repr(early))
    s = client_context().wrap_socket(raw)
    g = Lines(s).reply()
    ok(g == '220 mx.test ESMTP Postern\r\n', 'implicit TLS: the 220 greeting arrives inside TLS', repr(g))
    s.close()


def test_injection(srv, injected, name):
    """RFC 3207 4.2 / CVE-2011-0411: INJECTED is sent in the same write as
    STARTTLS; it must be thrown away, not executed inside TLS."""
    raw = socket.create_connection(('127.0.0.1', srv.ports['smtp']), timeout=10)
    local_port = raw.getsockname()[1]
    p = Lines(raw, unbuffered=True)
    g = p.reply()
    e = p.cmd('EHLO client.test')
    if not ok(g and g.startswith('220 ') and e and 'STARTTLS' in e,
              '%s: plaintext greeting and EHLO offer STARTTLS' % name, repr((g, e))):
        raw.close()
        return
    raw.sendall(b'STARTTLS\r\n' + injected)
    r = p.line()
    ok(r is not None and r.startswith('220 2.0.0'), '%s: STARTTLS gets 220 2.0.0' % name, repr(r))
    # Nothing else in plaintext (say, a reply to the injected command).
    raw.settimeout(0.3)
    try:
        extra = raw.recv(100, socket.MSG_PEEK)
    except socket.timeout:
        extra = b''
    raw.settimeout(10)
    ok(extra == b'' and p.buf == b'', '%s: no plaintext reply after the 220' % name, repr(extra))
    try:
        s = client_context().wrap_socket(raw)
    except Exception:
        ok(False, '%s: TLS handshake on the same socket' % name, traceback.format_exc())
        raw.close()
        return
    t = Lines(s)
    s.sendall(b'EHLO client.test\r\n')
    first = t.line()
    ok(first == '250-mx.test\r\n',
       '%s: the first reply inside TLS is the EHLO reply (not one for the injected command)' % name,
       repr(first))
    rest = t.reply() if first is not None and first.startswith('250-') else ''
    ok(rest is not None and 'STARTTLS' not in rest and rest.endswith('250 ENHANCEDSTATUSCODES\r\n'),
       '%s: the EHLO reply inside TLS is whole and has no STARTTLS' % name, repr(rest))
    r = t.cmd('NOOP')
    ok(r == '250 2.0.0 Ok\r\n', '%s: the next reply belongs to the next command (NOOP)' % name, repr(r))
    r = t.cmd('RCPT TO:<bob@example.org>')
    ok(r is not None and r.startswith('503 5.5.1'),
       '%s: no transaction was started by injected text (RCPT gets 503)' % name, repr(r))
    r = t.cmd('QUIT')
    ok(r is not None and r.startswith('221 '), '%s: QUIT gets 221' % name, repr(r))
    s.close()
    m = srv.wait_log(r'^.*posternd\[(\d+)\]: (\S+): connect from \[127\.0\.0\.1\]:%d to smtp$' % local_port)
    sess = m.group(2) if m else 'NOSESSION'
    m = srv.wait_log(r'%s: discarding (\d+) bytes of plaintext pipelined after STARTTLS' % sess)
    ok(m is not None and int(m.group(1)) == len(injected),
       '%s: the log says %d bytes of plaintext were discarded' % (name, len(injected)),
       m.group(0) if m else srv.log_text()[-2000:])
    ok(not re.search(r'%s: < (RSET|MAIL)' % sess, srv.log_text()),
       '%s: the injected command was never read as a command' % name)


def test_resumption(srv, maximum, label):
    ctx = client_context(maximum)
    s, _ = tls_connect(srv.ports['smtps'], ctx)
    t = Lines(s)
    g = t.reply()
    e = t.cmd('EHLO client.test')       # the TLS 1.3 ticket has arrived by now
    version = s.version()
    session = s.session
    t.cmd('QUIT')
    s.close()
    ok(g and g.startswith('220 ') and e and e.startswith('250-') and session is not None,
       '%s: first connection (%s) has a session to resume' % (label, version), repr((g, e)))
    if session is None:
        return
    reused, workers, fails = 0, set(), []
    # In pairs, the first kept open while the second connects: two sessions
    # at once need two workers.
    for i in range(5):
        pair = []
        for j in range(2):
            try:
                s, lp = tls_connect(srv.ports['smtps'], ctx, session=session)
                t = Lines(s)
                g = t.reply()
                pair.append((s, t, lp))
                if s.session_reused and g and g.startswith('220 '):
                    reused += 1
                else:
                    fails.append('connection %d: reused=%s greeting=%r' % (2 * i + j, s.session_reused, g))
            except Exception as ex:
                fails.append('connection %d: %r' % (2 * i + j, ex))
        for s, t, lp in pair:
            t.cmd('QUIT')
            s.close()
            w = worker_of(srv, lp, 'smtps')
            if w is not None:
                workers.add(w)
    ok(reused == 10, '%s: all 10 later connections resumed the session (%d did)' % (label, reused),
       '\n'.join(fails))
    ok(len(workers) >= 2, '%s: the resumed sessions were served by %d different workers'
       % (label, len(workers)), repr(workers))


def settle(srv, n=2, timeout=10):
    """Wait until the master has at least N workers, all idle."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        kids = set(srv.worker_pids(zombies=True))
        titles = []
        for k in kids:
            try:
                with open('/proc/%d/cmdline' % k, 'rb') as f:
                    titles.append(f.read())
            except OSError:
                titles.append(b'')
        if len(kids) >= n and all(t.startswith(b'posternd: worker idle') for t in titles):
            return True
        time.sleep(0.02)
    return False


def wait_gone(pids, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = {p for p in pids if alive(p)}
        if not left:
            return set()
        time.sleep(0.02)
    return left


def stale_workers(srv):
    """Children of the master that were started before the last successful
    reload (they should all have finished and exited)."""
    log = srv.log_text()
    last = log.rfind('configuration reloaded')
    before = set(int(x) for x in re.findall(r'pool: started worker (\d+)', log[:last]))
    return set(srv.worker_pids(zombies=True)) & before


def set_cert(srv, name):
    srv.conf['tls'] = {'certificate': srv.certs[name][0], 'key': srv.certs[name][1]}
    srv.write_conf()


def test_reload():
    srv = Server(certs=(('a', 'alpha'), ('b', 'beta'), ('c', 'gamma')))
    try:
        ok(settle(srv), 'reload: the pool has started and is idle')
        der, g = peer_der(srv.ports['smtps'])
        ok(b'alpha' in der and b'beta' not in der and g and g.startswith('220 '),
           'reload: first the server presents certificate A (CN alpha)')
        old = set(srv.worker_pids(zombies=True))
        set_cert(srv, 'b')
        os.kill(srv.pid, signal.SIGHUP)
        ok(srv.wait_log(r'configuration reloaded') is not None, 'reload: SIGHUP reloads the configuration',
           srv.log_text()[-2000:])
        left = wait_gone(old)
        ok(not left, 'reload: the idle workers of the old configuration exit', repr(left))
        seen = [peer_der(srv.ports['smtps']) for _ in range(4)]
        ok(all(b'beta' in der and b'alpha' not in der and g and g.startswith('220 ') for der, g in seen),
           'reload: new connections get certificate B (CN beta)')
        # STARTTLS uses the same credentials.
        try:
            with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=10) as c:
                c.starttls(context=client_context())
                der = c.sock.getpeercert(binary_form=True)
                ok(b'beta' in der, 'reload: STARTTLS also presents certificate B')
        except Exception:
            ok(False, 'reload: STARTTLS also presents certificate B', traceback.format_exc())

        srv.conf['tls'] = {'certificate': srv.dir + '/missing-cert.pem', 'key': srv.certs['b'][1]}
        srv.write_conf()
        os.kill(srv.pid, signal.SIGHUP)
        m = srv.wait_log(r'^.*reload failed.*$')
        ok(m is not None and 'missing-cert.pem' in m.group(0),
           'reload: a missing certificate makes the reload fail, naming the file',
           m.group(0) if m else srv.log_text()[-2000:])
        ok(srv.proc.poll() is None, 'reload: the server is still running after a failed reload')
        seen = [peer_der(srv.ports['smtps']) for _ in range(4)]
        ok(all(b'beta' in der and g and g.startswith('220 ') for der, g in seen),
           'reload: after the failed reload new connections still get certificate B')
        ok(len(re.findall(r'configuration reloaded', srv.log_text())) == 1,
           'reload: the failed reload did not report success')

        # Reloads in quick succession (say, a configuration tool sending
        # SIGHUP twice): the second one retires workers that the first one
        # has just forked.  Afterwards every worker must belong to the last
        # configuration, and every connection must get its certificate.
        ok(settle(srv), 'rapid reloads: the pool is idle before')
        gaps = (0.003, 0.002, 0.001, 0.005, 0.0)
        for rnd in range(20):
            n = len(re.findall(r'configuration reloaded', srv.log_text()))
            set_cert(srv, 'b')
            os.kill(srv.pid, signal.SIGHUP)
            time.sleep(gaps[rnd % len(gaps)])   # the point: a reload while workers start
            set_cert(srv, 'c')
            os.kill(srv.pid, signal.SIGHUP)
            srv.wait_log(r'configuration reloaded', count=n + 1)
            srv.wait_log(r'configuration reloaded', count=n + 2, timeout=0.5)   # unless coalesced
            end = time.monotonic() + 0.5
            while stale_workers(srv) and time.monotonic() < end:
                time.sleep(0.02)
            if stale_workers(srv):
                break               # one is left over: no need to go on
        note('rapid reloads: %d rounds' % (rnd + 1))
        left = set()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            left = stale_workers(srv)
            if not left:
                break
            time.sleep(0.05)
        ok(not left, 'rapid reloads: every worker left belongs to the last configuration',
           'workers of an earlier configuration still running 5 s after the last reload: %r\n%s'
           % (sorted(left), '\n'.join(l for l in srv.log_text().splitlines()
                                       if any('worker %d ' % p in l + ' ' for p in left))))
        seen = [peer_der(srv.ports['smtps'])[0] for _ in range(10)]
        bad = [i for i, der in enumerate(seen) if b'gamma' not in der]
        ok(not bad, 'rapid reloads: all 10 new connections get the last certificate (CN gamma)',
           'connections %r got another certificate (%s)' % (
               bad, ', '.join('beta' if b'beta' in seen[i] else 'alpha' if b'alpha' in seen[i] else '?'
                              for i in bad)))
    finally:
        ok(srv.stop() == 0, 'reload server: posternd exits 0 on SIGTERM')


def main():
    serve_tests(Server, ((test_implicit,),
                         (test_injection, b'RSET\r\n', 'injected RSET'),
                         (test_injection, b'MAIL FROM:<x@y>\r\n', 'injected MAIL'),
                         (test_resumption, None, 'TLS 1.3 resumption'),
                         (test_resumption, ssl.TLSVersion.TLSv1_2, 'TLS 1.2 resumption')))
    TAP.run(test_reload)
    return TAP.done()


if __name__ == '__main__':
    run_main(main, 'certtool')
