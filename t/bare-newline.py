#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# bare-newline.py - a bare LF in a message (issue 13, finding 8): with
# [limits] bare_newline = normalize (the default) it is stored as the spool's
# line end, CR LF with [hooks] data_crlf = yes and LF without, in DATA and
# BDAT alike, and "LF . CR LF" never ends DATA (the smuggled MAIL after it
# stays message text); with bare_newline = reject (one endpoint) the message
# gets 521 5.5.2 and the connection is closed, as Postfix 3.9 does.
#
# Python 3 standard library only.  Prints TAP.  The data hook is a shell
# script that copies what it is given (the spool) to a file.
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, Lines, Server, write_script  # noqa: E402

ok, is_, note = TAP.ok, TAP.is_, TAP.diag


def start(crlf):
    d = postern_test.workdir()
    out = d + '/out'
    os.mkdir(out)
    os.chmod(out, 0o777)
    hook = write_script(d + '/copy', '#!/bin/sh\nexec cat > "%s/$POSTERN_SESSION.$$"\n' % out)
    srv = Server(dir=d, endpoints=('smtp', 'strict'), config={
        'hooks': {'data': hook, 'data_crlf': 'yes' if crlf else 'no'},
        'strict': {'bare_newline': 'reject'}})
    srv.out = out
    return srv


def stored(srv):
    """The bodies stored so far (after the Received header), oldest first."""
    files = sorted((os.path.join(srv.out, f) for f in os.listdir(srv.out)), key=os.path.getmtime)
    bodies = []
    for f in files:
        with open(f, 'rb') as fh:
            t = fh.read()
        bodies.append(t)
    return bodies


def session(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    c = Lines(s)
    c.reply()
    c.cmd('EHLO client.test')
    c.cmd('MAIL FROM:<a@example.org>')
    c.cmd('RCPT TO:<b@example.org>')
    return s, c


def normalize(crlf):
    eol = b'\r\n' if crlf else b'\n'
    name = 'data_crlf = %s' % ('yes' if crlf else 'no')
    srv = start(crlf)
    with srv:
        s, c = session(srv.ports['smtp'])
        c.cmd('DATA')
        s.sendall(b'Subject: bare\r\n\r\none\ntwo\r\n.\r\n')
        r = c.reply() or 'EOF'
        ok(r.startswith('250 '), '%s: a message with a bare LF is accepted (normalize)' % name, r)
        # smuggling: LF . CR LF then a second transaction
        c.cmd('MAIL FROM:<a@example.org>')
        c.cmd('RCPT TO:<b@example.org>')
        c.cmd('DATA')
        s.sendall(b'Subject: smuggle\r\n\r\nbefore\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n'
                  b'smuggled\r\n.\r\n')
        r = c.reply() or 'EOF'
        ok(r.startswith('250 '), '%s: LF . CRLF did not end DATA: one 250' % name, r)
        r = c.cmd('NOOP') or 'EOF'
        ok(r.startswith('250 '), '%s: and nothing else was taken as commands' % name, r)
        # BDAT
        c.cmd('MAIL FROM:<a@example.org>')
        c.cmd('RCPT TO:<b@example.org>')
        chunk = b'Subject: bdat\r\n\r\nthree\nfour\r\n'
        s.sendall(b'BDAT %d LAST\r\n' % len(chunk) + chunk)
        r = c.reply() or 'EOF'
        ok(r.startswith('250 '), '%s: BDAT with a bare LF accepted' % name, r)
        c.cmd('QUIT')
        s.close()
    bodies = stored(srv)
    is_(len(bodies), 3, '%s: three messages stored' % name)
    if len(bodies) == 3:
        ok(bodies[0].endswith(b'one' + eol + b'two' + eol),
           '%s: DATA: the bare LF is stored as the spool\'s line end' % name, repr(bodies[0][-40:]))
        ok(b'MAIL FROM:<evil@x>' in bodies[1], '%s: the smuggled MAIL is message text' % name)
        ok(bodies[2].endswith(b'three' + eol + b'four' + eol),
           '%s: BDAT: the bare LF is stored as the spool\'s line end' % name, repr(bodies[2][-40:]))
        if crlf:
            bare = [b for b in bodies if b.replace(b'\r\n', b'').find(b'\n') >= 0]
            ok(not bare, 'data_crlf = yes: no bare LF in any stored message', repr(bare[:1]))


def reject():
    srv = start(False)
    with srv:
        s, c = session(srv.ports['strict'])
        c.cmd('DATA')
        s.sendall(b'Subject: bare\r\n\r\none\ntwo\r\n.\r\n')
        r = c.reply() or 'EOF'
        ok(r.startswith('521 5.5.2 ') and 'bare <LF>' in r, 'bare_newline = reject: 521 5.5.2 "bare <LF> received"', r)
        ok(c.line(5) is None, 'and the connection is closed')
        s.close()
        s, c = session(srv.ports['strict'])
        c.cmd('DATA')
        s.sendall(b'Subject: clean\r\n\r\none\r\ntwo\r\n.\r\n')
        r = c.reply() or 'EOF'
        ok(r.startswith('250 '), 'bare_newline = reject: a message with CR LF only is accepted', r)
        c.cmd('QUIT')
        s.close()
        ok(srv.wait_log(r'bare <LF> received \(bare_newline = reject\)'), 'the refusal is logged')
    is_(len(stored(srv)), 1, 'only the clean message reached the data hook')


def main():
    TAP.run(normalize, False)
    TAP.run(normalize, True)
    TAP.run(reject)
    return TAP.done()


if __name__ == '__main__':
    postern_test.run_main(main)
