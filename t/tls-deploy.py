#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# tls-deploy.py - TLS as operators deploy it (DESIGN.md "Deployment"):
#
#   - SNI: [tls] certificate_directory in certbot layout; a name picks its
#     certificate (exact, then *.PARENT, else [tls] certificate), RSA and
#     ECDSA side by side; POSTERN_TLS_SNI to hooks, postern_tls_sni to
#     policy servers; SIGHUP replaces one; a broken one keeps the old;
#   - [tls] ticket_key_file made by postern-ticket-key: two posternd share
#     it and resume each other's sessions; a new key + SIGHUP -> a full
#     handshake, no error;
#   - client certificates (client_certificates = request, client_ca):
#     verified, from another CA, none; POSTERN_TLS_CLIENT_* and ccert_*.
#
# Certificates are made by certtool in the test's directory; the clients are
# Python's ssl module.  Prints TAP.
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, BUILDDIR, Lines, run_main, workdir, write_script, client_context, \
    nobody_ids, IS_ROOT  # noqa: E402

ok, note = TAP.ok, TAP.diag
TICKET_KEY = os.path.join(BUILDDIR, 'postern-ticket-key')


# ---------------------------------------------------------------------------
# Certificates

def certtool(*args):
    r = subprocess.run(('certtool',) + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError('certtool %s: %s' % (' '.join(args[:1]), r.stderr.decode()[-500:]))


def make_cert(d, name, cn, dns=(), key_type='ecdsa', ca=None, is_ca=False, client=False,
              cert_file=None, key_file=None):
    """A certificate made by certtool: self-signed, or signed by CA
    ((cert, key)); (cert path, key path)."""
    cert = cert_file or '%s/%s-cert.pem' % (d, name)
    key = key_file or '%s/%s-key.pem' % (d, name)
    tmpl = '%s/%s.tmpl' % (d, name)
    lines = ['cn = "%s"' % cn, 'expiration_days = 30', 'serial = %d' % (os.getpid() + len(name))]
    lines += ['dns_name = %s' % n for n in dns]
    if is_ca:
        lines += ['ca', 'cert_signing_key']
    else:
        lines += ['tls_www_client' if client else 'tls_www_server', 'signing_key', 'encryption_key']
    with open(tmpl, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    certtool('--generate-privkey', '--key-type=%s' % key_type, '--outfile', key)
    if ca:
        certtool('--generate-certificate', '--load-privkey', key, '--load-ca-certificate', ca[0],
                 '--load-ca-privkey', ca[1], '--template', tmpl, '--outfile', cert)
    else:
        certtool('--generate-self-signed', '--load-privkey', key, '--template', tmpl,
                 '--outfile', cert)
    os.chmod(key, 0o600)
    return cert, key


def certbot_dir(base, name, cn, dns=(), key_type='ecdsa'):
    """BASE/NAME/fullchain.pem and privkey.pem, as certbot writes them."""
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return make_cert(d, 'c', cn, dns, key_type, cert_file=d + '/fullchain.pem',
                     key_file=d + '/privkey.pem')


def der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


# ---------------------------------------------------------------------------
# Clients

def handshake(port, sni=None, ctx=None, session=None):
    """Connect with implicit TLS: (server certificate DER, greeting,
    session, reused, socket) with the socket still open."""
    raw = socket.create_connection(('127.0.0.1', port), timeout=10)
    s = (ctx or client_context()).wrap_socket(raw, server_hostname=sni, session=session)
    t = Lines(s)
    g = t.reply()
    return s.getpeercert(binary_form=True), g, s, t


def peer_cert(port, sni=None, ctx=None):
    s = None
    try:
        cert, g, s, t = handshake(port, sni, ctx)
        t.cmd('QUIT')
        return cert if g and g.startswith('220 ') else None
    finally:
        if s is not None:
            s.close()


def gnutls_cli_cert(port, sni):
    """The DER of the certificate gnutls-cli got for SNI; False when
    there is no gnutls-cli."""
    import shutil
    if shutil.which('gnutls-cli') is None:
        return False
    r = subprocess.run(['gnutls-cli', '--insecure', '--print-cert', '--sni-hostname', sni,
                        '--port', str(port), '127.0.0.1'], input=b'QUIT\r\n',
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    m = re.search(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----',
                  r.stdout.decode('latin-1'), re.S)
    return ssl.PEM_cert_to_DER_cert(m.group(0)) if m else None


def session_of(port, ctx):
    """A session to resume: TLS 1.3 tickets arrive after the handshake, so
    one command is answered first."""
    cert, g, s, t = handshake(port, None, ctx)
    t.cmd('EHLO client.test')
    sess = s.session
    t.cmd('QUIT')
    s.close()
    return sess


def resumed(port, ctx, sess):
    """(reused, greeting) of a connection that offers SESS."""
    cert, g, s, t = handshake(port, None, ctx, sess)
    r = s.session_reused
    t.cmd('QUIT')
    s.close()
    return r, g


def ctx_tls12(ciphers=None):
    c = client_context(ssl.TLSVersion.TLSv1_2)
    if ciphers:
        c.set_ciphers(ciphers)
    return c


# ---------------------------------------------------------------------------
# Hooks that write down what they were given

def recorder(d):
    """A connect hook (exec) writing its POSTERN_TLS* variables to
    d/env.PORT, and a persistent helo hook (policy protocol) writing each
    request to d/policy.PORT."""
    out = os.path.join(d, 'seen')
    os.mkdir(out)
    if IS_ROOT:
        os.chown(out, *nobody_ids())
    connect = write_script(os.path.join(d, 'connect-hook'),
                           '#!/bin/sh\nenv | grep "^POSTERN_TLS" | sort > %s/env.$POSTERN_CLIENT_PORT\n'
                           'exit 0\n' % out)
    helo = write_script(os.path.join(d, 'policy-hook'), '''#!/usr/bin/env python3
import sys
req = {}
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line:
        k, _, v = line.partition("=")
        req[k] = v
        continue
    with open("%s/policy." + req.get("client_port", "x"), "w") as f:
        for k in sorted(req):
            f.write("%%s=%%s\\n" %% (k, req[k]))
    req = {}
    sys.stdout.write("action=DUNNO\\n\\n")
    sys.stdout.flush()
''' % out)
    return out, {'connect': connect, 'helo': helo, 'persistent': 'helo'}


def seen(out, kind, port):
    """What the hook of KIND wrote for the client on PORT: {name: value}."""
    try:
        with open('%s/%s.%d' % (out, kind, port)) as f:
            return dict(l.rstrip('\n').split('=', 1) for l in f if '=' in l)
    except OSError:
        return None


def session_with_hooks(port, out, sni=None, ctx=None):
    """A session that says EHLO (so the policy hook is asked): (env, policy)."""
    s = None
    try:
        cert, g, s, t = handshake(port, sni, ctx)
        lp = s.getsockname()[1]
        e = t.cmd('EHLO client.test')
        t.cmd('QUIT')
        if not (g and g.startswith('220 ') and e and e.startswith('250')):
            return None, None
        return seen(out, 'env', lp), seen(out, 'policy', lp)
    finally:
        if s is not None:
            s.close()


def reload(srv, count):
    """SIGHUP; wait for the COUNTth "configuration reloaded"."""
    os.kill(srv.pid, signal.SIGHUP)
    return srv.wait_log(r'configuration reloaded', timeout=20, count=count) is not None


def check_config(conffile):
    r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', conffile], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.returncode, r.stdout.decode('utf-8', 'replace')


# ---------------------------------------------------------------------------
# SNI

def sni_tests():
    d = workdir()
    live = os.path.join(d, 'live')
    os.mkdir(live)
    a = certbot_dir(live, 'a.test', 'a.test', ('a.test', 'www.a.test'))
    a_rsa = certbot_dir(live, 'a.test-rsa', 'a.test', ('www.a.test', 'a.test'), 'rsa')
    b = certbot_dir(live, 'b.test', 'b.test', ('b.test',))
    w = certbot_dir(live, 'wild', 'w.test', ('*.w.test',))
    cn_only = certbot_dir(live, 'cn-only', 'cn.test')
    with open(os.path.join(live, 'README'), 'w') as f:
        f.write('certbot leaves a README here\n')
    out, hooks = recorder(d)
    srv = postern_test.Server(dir=d, endpoints=('smtps',), certs=(('server', 'localhost'),),
                              config={'smtps': {'tls': 'implicit'},
                                      'tls': {'certificate_directory': live},
                                      'hooks': hooks})
    try:
        sni_checks(srv, live, out, a, a_rsa, b, w, cn_only)
    finally:
        TAP.ok(srv.stop() == 0, 'SNI: posternd exits 0 on SIGTERM')


def sni_checks(srv, live, out, a, a_rsa, b, w, cn_only):
    port = srv.ports['smtps']
    default = der(srv.cert)
    cases = [('a.test', der(a[0]), 'an exact name'),
             ('WWW.A.Test', der(a[0]), 'a second subjectAltName, in capitals'),
             ('b.test', der(b[0]), 'another name'),
             ('x.w.test', der(w[0]), 'a name under *.w.test'),
             ('w.test', default, 'the wildcard\'s parent: the default certificate'),
             ('y.x.w.test', default, 'two labels under the wildcard: the default'),
             ('cn.test', der(cn_only[0]), 'a certificate without subjectAltName: its CN'),
             ('unknown.test', default, 'an unknown name: the default'),
             (None, default, 'no SNI: the default')]
    for sni, want, what in cases:
        got = peer_cert(port, sni)
        ok(got == want, 'SNI %s: %s' % (sni, what))
    # RSA and ECDSA side by side: a TLS 1.2 client that only takes one kind.
    got = peer_cert(port, 'a.test', ctx_tls12('ECDHE-RSA-AES128-GCM-SHA256'))
    ok(got == der(a_rsa[0]), 'SNI a.test, RSA-only client: the RSA certificate of the same names')
    got = peer_cert(port, 'a.test', ctx_tls12('ECDHE-ECDSA-AES128-GCM-SHA256'))
    ok(got == der(a[0]), 'SNI a.test, ECDSA-only client: the ECDSA certificate')

    # GnuTLS's own client too: --sni-hostname, the certificate it printed.
    for sni, want in (('b.test', b), ('x.w.test', w)):
        got = gnutls_cli_cert(port, sni)
        if got is False:
            TAP.skip('gnutls-cli --sni-hostname %s' % sni, 'gnutls-cli missing: apt-get install gnutls-bin')
        else:
            ok(got == der(want[0]), 'gnutls-cli --sni-hostname %s: its certificate' % sni)

    env, pol = session_with_hooks(port, out, 'b.test')
    ok(env is not None and env.get('POSTERN_TLS_SNI') == 'b.test', 'POSTERN_TLS_SNI=b.test to the hook', env)
    ok(pol is not None and pol.get('postern_tls_sni') == 'b.test',
       'postern_tls_sni=b.test to the policy server', pol)
    env, pol = session_with_hooks(port, out, 'Unknown.Test')
    ok(env is not None and env.get('POSTERN_TLS_SNI') == 'unknown.test',
       'an unknown name is still passed on, lower-cased', env)
    env, pol = session_with_hooks(port, out, None)
    ok(env is not None and 'POSTERN_TLS_SNI' not in env and 'POSTERN_TLS' in env,
       'no SNI: POSTERN_TLS_SNI is not set', env)
    ok(pol is not None and 'postern_tls_sni' not in pol, 'no SNI: no postern_tls_sni either', pol)

    # SIGHUP after certbot renewed b.test with one more name.
    b2 = certbot_dir(live, 'b.test', 'b.test', ('b.test', 'mail.b.test'))
    ok(reload(srv, 1), 'SIGHUP: reloaded')
    ok(peer_cert(port, 'b.test') == der(b2[0]), 'after SIGHUP: b.test gets the new certificate')
    ok(peer_cert(port, 'mail.b.test') == der(b2[0]), 'after SIGHUP: its new name too')
    ok(peer_cert(port, 'a.test') == der(a[0]), 'after SIGHUP: a.test is unchanged')

    # A renewal caught half-way: a.test's new key does not match its chain.
    make_cert(os.path.join(live, 'a.test'), 'other', 'other.test', key_file=os.path.join(live, 'a.test',
                                                                                             'privkey.pem'))
    ok(reload(srv, 2), 'SIGHUP with a broken a.test: the rest is reloaded')
    m = srv.wait_log(r'certificate_directory: a\.test: privkey\.pem does not match fullchain\.pem: '
                     r'keeping the certificate loaded before')
    ok(m is not None, 'the log says why, and that the old one is kept', srv.log_text()[-1500:])
    ok(peer_cert(port, 'a.test') == der(a[0]), 'a.test is still served with the certificate loaded before')
    ok(peer_cert(port, 'b.test') == der(b2[0]), 'b.test is still served')
    rc, text = check_config(srv.conffile)
    ok(rc == 1 and 'a.test: privkey.pem does not match fullchain.pem' in text,
       'posternd -t: the broken one is an error, named', text)


# ---------------------------------------------------------------------------
# Ticket keys

def ticket_tests():
    d = workdir()
    keyfile = os.path.join(d, 'ticket.key')
    r = subprocess.run([TICKET_KEY, keyfile], stderr=subprocess.PIPE, timeout=30)
    ok(r.returncode == 0, 'postern-ticket-key FILE exits 0', r.stderr)
    st = os.stat(keyfile)
    ok(stat.S_IMODE(st.st_mode) == 0o600, 'the key file is mode 0600 (%o)' % stat.S_IMODE(st.st_mode))
    first = open(keyfile).read()
    ok(re.match(r'^[A-Za-z0-9+/=\n]{80,100}$', first), 'the key file is one line of base64', first)
    cert, key = make_cert(d, 'shared', 'localhost', ('localhost',))
    tls = {'certificate': cert, 'key': key, 'ticket_key_file': keyfile}
    nodes = [postern_test.Server(dir=workdir(), endpoints=('smtps',),
                                 config={'smtps': {'tls': 'implicit'}, 'tls': tls}) for _ in range(2)]
    lone = postern_test.Server(dir=workdir(), endpoints=('smtps',),
                               config={'smtps': {'tls': 'implicit'},
                                       'tls': {'certificate': cert, 'key': key}})
    try:
        ticket_checks(nodes, lone, keyfile)
    finally:
        for s in nodes + [lone]:
            TAP.ok(s.stop() == 0, 'tickets: posternd exits 0 on SIGTERM')
    bad = os.path.join(d, 'bad.key')
    with open(bad, 'w') as f:
        f.write('c2hvcnQ=\n')
    os.chmod(bad, 0o600)
    nodes[0].conf['tls']['ticket_key_file'] = bad
    nodes[0].write_conf()
    rc, text = check_config(nodes[0].conffile)
    ok(rc == 1 and 'is not the base64 of 64 octets' in text, 'posternd -t: a short key is refused', text)
    os.chmod(keyfile, 0o644)
    nodes[0].conf['tls']['ticket_key_file'] = keyfile
    nodes[0].write_conf()
    rc, text = check_config(nodes[0].conffile)
    ok(rc == 1 and 'chmod 600' in text, 'posternd -t: a key file others can read is refused', text)


def ticket_checks(nodes, lone, keyfile):
    a, b = (n.ports['smtps'] for n in nodes)
    for ctx, label in ((client_context(), 'TLS 1.3'), (ctx_tls12(), 'TLS 1.2')):
        sess = session_of(a, ctx)
        ok(sess is not None, '%s: a session from node 1' % label)
        r, g = resumed(b, ctx, sess)
        ok(r and g and g.startswith('220 '), '%s: node 2 resumes node 1\'s session' % label, repr((r, g)))
        r, g = resumed(lone.ports["smtps"], ctx, sess)
        ok(not r and g and g.startswith('220 '),
           '%s: a node with its own key does a full handshake, no error' % label, repr((r, g)))
    ctx = client_context()
    sess = session_of(a, ctx)
    r = subprocess.run([TICKET_KEY, keyfile], timeout=30)
    ok(r.returncode == 0, 'postern-ticket-key again: a new key')
    ok(reload(nodes[0], 1), 'node 1 reloads the new key on SIGHUP')
    failed = nodes[0].log_text().count('TLS handshake failed')   # wait_ready's probes
    r, g = resumed(a, ctx, sess)
    ok(not r and g and g.startswith('220 '), 'after the key change: full handshake, no error', repr((r, g)))
    ok(nodes[0].log_text().count('TLS handshake failed') == failed, 'node 1 logged no failed handshake')
    sess = session_of(a, ctx)
    r, g = resumed(a, ctx, sess)
    ok(r, 'a ticket made with the new key resumes')
    r, g = resumed(b, ctx, sess)
    ok(not r and g and g.startswith('220 '),
       'node 2, still on the old key, does a full handshake, no error', repr((r, g)))
    ok(reload(nodes[1], 1), 'node 2 reloads too')
    r, g = resumed(b, ctx, sess)
    ok(r, 'then node 2 resumes node 1\'s new tickets')


# ---------------------------------------------------------------------------
# Client certificates

def client_cert_tests():
    d = workdir()
    ca1 = make_cert(d, 'ca1', 'Postern Test CA One', is_ca=True)
    ca2 = make_cert(d, 'ca2', 'Another CA', is_ca=True)
    good = make_cert(d, 'client1', 'client one', ca=ca1, client=True)
    other = make_cert(d, 'client2', 'client two', ca=ca2, client=True)
    out, hooks = recorder(d)
    live = os.path.join(d, 'live')
    os.mkdir(live)
    sni = certbot_dir(live, 'sni.test', 'sni.test', ('sni.test',))
    srv = postern_test.Server(dir=d, endpoints=('smtps',), certs=(('server', 'localhost'),),
                              config={'smtps': {'tls': 'implicit'}, 'hooks': hooks,
                                      'tls': {'client_certificates': 'request', 'client_ca': ca1[0],
                                              'certificate_directory': live}})
    try:
        client_checks(srv, out, good, other, sni)
    finally:
        TAP.ok(srv.stop() == 0, 'client certificates: posternd exits 0 on SIGTERM')
    srv.conf['tls']['client_certificates'] = 'require'
    srv.write_conf()
    rc, text = check_config(srv.conffile)
    ok(rc == 1 and "client_certificates: 'require' is not no or request" in text,
       'posternd -t: client_certificates = require is refused, named', text)


def fingerprint(pem_file):
    import hashlib
    return ':'.join('%02X' % b for b in hashlib.sha256(der(pem_file)).digest())


def client_checks(srv, out, good, other, sni):
    port = srv.ports['smtps']
    # With a certificate chosen by SNI, client certificates verify the same.
    ctx = client_context()
    ctx.load_cert_chain(*good)
    cert, g, s, t = handshake(port, 'sni.test', ctx)
    lp = s.getsockname()[1]
    t.cmd('EHLO client.test')
    t.cmd('QUIT')
    s.close()
    env = seen(out, 'env', lp) or {}
    ok(cert == der(sni[0]) and env.get('POSTERN_TLS_CLIENT_VERIFIED') == 'yes' and
       env.get('POSTERN_TLS_SNI') == 'sni.test',
       'SNI sni.test and a client certificate: its certificate, and the client verified', env)
    for maximum, label in ((None, 'TLS 1.3'), (ssl.TLSVersion.TLSv1_2, 'TLS 1.2')):
        ctx = client_context(maximum)
        ctx.load_cert_chain(*good)
        env, pol = session_with_hooks(port, out, None, ctx)
        ok(env is not None, '%s, verified: the session ran' % label)
        env, pol = env or {}, pol or {}
        ok(env.get('POSTERN_TLS_CLIENT_VERIFIED') == 'yes', '%s, verified: VERIFIED=yes' % label, env)
        ok(env.get('POSTERN_TLS_CLIENT_FINGERPRINT') == fingerprint(good[0]),
           '%s, verified: FINGERPRINT is the SHA-256 of the certificate' % label, env)
        ok(env.get('POSTERN_TLS_CLIENT_SUBJECT') == 'CN=client one', '%s: SUBJECT is its DN' % label, env)
        ok(env.get('POSTERN_TLS_CLIENT_ISSUER') == 'CN=Postern Test CA One', '%s: ISSUER is the CA\'s DN' % label,
           env)
        ok(pol.get('ccert_subject') == 'client one' and pol.get('ccert_issuer') == 'Postern Test CA One' and
           pol.get('ccert_fingerprint') == fingerprint(good[0]),
           '%s: policy gets ccert_subject, ccert_issuer (CNs, as Postfix) and ccert_fingerprint' % label, pol)
    # A resumed session still knows the certificate of the first one.
    ctx = client_context()
    ctx.load_cert_chain(*good)
    sess = session_of(port, ctx)
    cert, g, s, t = handshake(port, None, ctx, sess)
    reused, lp = s.session_reused, s.getsockname()[1]
    t.cmd('EHLO client.test')
    t.cmd('QUIT')
    s.close()
    env = seen(out, 'env', lp) or {}
    ok(reused and env.get('POSTERN_TLS_CLIENT_VERIFIED') == 'yes' and
       env.get('POSTERN_TLS_CLIENT_SUBJECT') == 'CN=client one',
       'a resumed session: the client certificate of the first one, verified', repr((reused, env)))
    ctx = client_context()
    ctx.load_cert_chain(*other)
    env, pol = session_with_hooks(port, out, None, ctx)
    ok(env is not None, 'another CA: the handshake is not refused')
    env, pol = env or {}, pol or {}
    ok(env.get('POSTERN_TLS_CLIENT_VERIFIED') == 'no' and
       env.get('POSTERN_TLS_CLIENT_FINGERPRINT') == fingerprint(other[0]),
       'another CA: VERIFIED=no and the fingerprint', env)
    ok('POSTERN_TLS_CLIENT_SUBJECT' not in env and 'POSTERN_TLS_CLIENT_ISSUER' not in env,
       'another CA: no subject, no issuer (as Postfix)', env)
    ok(pol.get('ccert_subject') == '' and pol.get('ccert_issuer') == '' and
       pol.get('ccert_fingerprint') == fingerprint(other[0]),
       'another CA: policy gets the fingerprint only', pol)
    env, pol = session_with_hooks(port, out, None, client_context())
    ok(env is not None and not any(k.startswith('POSTERN_TLS_CLIENT') for k in env),
       'no client certificate: served as before, no POSTERN_TLS_CLIENT_*', env)
    ok(pol is not None and pol.get('ccert_fingerprint') == '', 'no client certificate: empty ccert_*', pol)


def main():
    for fn in (sni_tests, ticket_tests, client_cert_tests):
        TAP.run(fn)
    return TAP.done()


run_main(main, 'certtool')
