#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# lmtp.py - LMTP server mode (RFC 2033, endpoint key protocol = lmtp) through
# posternd, over raw sockets (smtplib's LMTP reads one reply to DATA):
# LHLO and its extensions, STARTTLS (with LMTPS), EHLO/HELO refused with 500, LHLO unknown on an
# SMTP endpoint, one reply per recipient after DATA and after BDAT LAST,
# pipelined RCPTs, a message over the size limit (552 for each recipient;
# one for a BDAT chunk that is not LAST), per-recipient answers from an exec data step (RCPT lines)
# and from a persistent step (rcpt_action=), the tee rule (a recipient's
# first refusal is final), the same steps on an SMTP endpoint collapsed to
# one reply (451 4.3.0 for a mix, never 250), "with LMTP" in Received:; then
# a milter adding and deleting recipients (the reply count stays); the
# real use case: a private Postfix as the MX with relay_transport =
# lmtp:inet:127.0.0.1:PORT, and each recipient's status in its log.
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from postern_test import TAP, Server, IS_ROOT, Lines, client_context, free_port, workdir, write_script, run_main

ok, is_ = TAP.ok, TAP.is_

# exec data step: carol refused for good, dave for now, the rest taken
# (stored in a file per message); the recipients come on fd 3.
EXEC_STEP = r'''#!/bin/sh
msg=$(cat)
n=0
while read -r r <&3; do
  n=$((n+1))
  case "$r" in
  carol@*) echo "RCPT $r 550 5.1.1 no mailbox here for $r" ;;
  dave@*) echo "RCPT <$r> 451 mailbox busy" ;;
  bob@*) echo "RCPT $r 250 2.0.0 stored for $r" ;;
  nobody@*) echo "RCPT $r 999 not a code" ;;
  weird@*) echo "RCPT $r 501 5.5.4 a syntax error for a message" ;;
  esac
done
printf '%%s\n' "$msg" > %(dir)s/exec-$POSTERN_SESSION-$$.eml
echo "250 2.0.0 stored $n"
exit 0
'''

# persistent step: rcpt_action= per recipient, Postfix policy protocol
POLICY_STEP = r'''#!/usr/bin/python3
import sys
inp, out = sys.stdin.buffer, sys.stdout
while True:
    attrs, rcpts = {}, []
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        line = line.rstrip(b'\n')
        if not line:
            break
        k, _, v = line.partition(b'=')
        k, v = k.decode(), v.decode('latin-1')
        if k == 'postern_rcpt_list':
            rcpts.append(v)
        attrs.setdefault(k, v)
    if attrs.get('request') == 'postern_data':
        inp.read(int(attrs['size']))
    lines = ''
    for r in rcpts:
        if r.startswith('erin@'):
            lines += 'rcpt_action=%s 452 4.2.2 erin is over quota\n' % r
        elif r.startswith('bob@'):
            lines += 'rcpt_action=%s 554 5.7.1 policy says no to bob\n' % r
        elif r.startswith('frank@'):
            lines += 'rcpt_action=%s 250 2.0.0 frank taken\n' % r
    out.write(lines + 'action=%s\n\n' % ('DUNNO' if 'nobody-ok' not in attrs.get('sender', '') else 'OK'))
    out.flush()
'''


def session(port):
    s = socket.create_connection(('127.0.0.1', port), 10)
    c = Lines(s)
    c.reply()
    return s, c


def replies(c, n):
    return [c.reply() for _ in range(n)]


def codes(rs):
    return [int(r[:3]) if r else None for r in rs]


def lmtp_send(port, rcpts, body='Subject: t\r\n\r\nhello\r\n', sender='alice@example.net'):
    """LHLO, then MAIL, the RCPTs and DATA pipelined in one write; returns
    (RCPT replies, the replies after the dot: as many as RCPTs were taken, and
    one more read that must time out)."""
    s, c = session(port)
    c.cmd('LHLO client.test')
    cmds = 'MAIL FROM:<%s>\r\n' % sender + ''.join('RCPT TO:<%s>\r\n' % r for r in rcpts) + 'DATA\r\n'
    s.sendall(cmds.encode())
    c.reply()
    rr = replies(c, len(rcpts))
    c.reply()       # 354
    s.sendall(body.encode() + b'.\r\n')
    taken = sum(1 for r in rr if r and r.startswith('2'))
    after = replies(c, taken)
    extra = c.reply(timeout=1)
    c.cmd('QUIT')
    s.close()
    return rr, after, extra


def t_greeting(srv):
    s, c = session(srv.ports['lmtp'])
    r = c.cmd('EHLO client.test')
    ok(r.startswith('500 5.5.1') and 'LHLO' in r, 'LMTP endpoint: EHLO refused with 500 (RFC 2033 4.1)', r)
    r = c.cmd('HELO client.test')
    ok(r.startswith('500'), 'LMTP endpoint: HELO refused with 500', r)
    r = c.cmd('MAIL FROM:<a@example.net>')
    ok(r.startswith('503'), 'no MAIL before LHLO', r)
    r = c.cmd('LHLO client.test')
    ok(r.startswith('250-mx.test'), 'LHLO: 250', r)
    for ext in ('PIPELINING', 'ENHANCEDSTATUSCODES', '8BITMIME', 'SIZE', 'CHUNKING'):
        ok(re.search(r'^250[- ]%s' % ext, r, re.M), 'LHLO offers %s' % ext, r)
    r = c.cmd('DATA')
    ok(r.startswith('503'), 'DATA without MAIL: 503', r)
    c.cmd('MAIL FROM:<a@example.net>')
    r = c.cmd('DATA')
    ok(r.startswith('503'), 'DATA with no recipient taken: 503 (RFC 2033 4.2)', r)
    c.cmd('QUIT')
    s.close()
    s, c = session(srv.ports['smtp'])
    r = c.cmd('LHLO client.test')
    ok(r.startswith('500 5.5.2'), 'SMTP endpoint: LHLO is not a command here', r)
    s.close()


def t_plain(srv):
    rr, after, extra = lmtp_send(srv.ports['plain'], ['x1@example.org', 'x2@example.org', 'x3@example.org'])
    is_(codes(rr), [250, 250, 250], 'pipelined RCPTs: three 250')
    is_(codes(after), [250, 250, 250], 'one reply per recipient after the dot')
    ok(all('<x%d@example.org>' % (i + 1) in after[i] for i in range(3)), 'each reply names its recipient, in RCPT order',
       after)
    ok(extra is None, 'and not one more', extra)
    msgs = srv.messages()
    text = open(msgs[-1], 'rb').read().decode('latin-1') if msgs else ''
    ok(re.search(r'by mx\.test \(Postern\) with LMTP id', text), 'Received: ... with LMTP (RFC 3848)', text[:400])


def t_starttls(srv):
    s, c = session(srv.ports['lmtps'])
    r = c.cmd('LHLO client.test')
    ok(re.search(r'^250[- ]STARTTLS', r, re.M), 'LHLO offers STARTTLS where tls = starttls', r)
    r = c.cmd('STARTTLS')
    ok(r and r.startswith('220'), 'STARTTLS: 220', r)
    t = client_context().wrap_socket(s, server_hostname='localhost')
    c = Lines(t)
    r = c.cmd('LHLO client.test')
    ok(r and r.startswith('250') and 'STARTTLS' not in r, 'LHLO again inside TLS', r)
    t.sendall(b'MAIL FROM:<a@example.net>\r\nRCPT TO:<tls1@example.org>\r\nRCPT TO:<tls2@example.org>\r\nDATA\r\n')
    replies(c, 3)
    c.reply()
    t.sendall(b'Subject: over tls\r\n\r\nx\r\n.\r\n')
    after = replies(c, 2)
    is_(codes(after), [250, 250], 'two replies after the dot, inside TLS')
    c.cmd('QUIT')
    t.close()
    text = srv.message('over tls')
    ok(re.search(r'with LMTPS \(TLS', text), 'Received: ... with LMTPS (RFC 3848)', text[:400])


def t_exec(srv):
    rr, after, extra = lmtp_send(srv.ports['lmtp'], ['bob@example.org', 'carol@example.org', 'dave@example.org',
                                                     'erin@example.org', 'nobody@example.org'])
    is_(codes(rr), [250] * 5, 'five recipients taken at RCPT')
    is_(codes(after), [250, 550, 451, 250, 250], 'exec step: bob 250, carol 550, dave 451, erin and nobody the overall 250')
    ok(after[0] and 'stored for bob@example.org' in after[0], "bob's own 2xx text", after[0])
    ok(after[1] and after[1].startswith('550 5.1.1 no mailbox here for carol'), "carol's own refusal", after[1])
    ok(after[2] and after[2].startswith('451 4.0.0 mailbox busy'), 'dave (address in <>): a default enhanced code added',
       after[2])
    ok(after[3] and after[3].startswith('250 2.0.0 stored 5'), "erin: the step's reply line", after[3])
    ok(extra is None, 'exactly five replies', extra)
    ok(srv.wait_log(r'per-recipient answer ignored \(no 2xx, 4xx or 5xx code'), 'a bad RCPT line is logged and ignored')
    ok(srv.wait_log(r'to=<carol@example\.org> status=rejected \(550 5\.1\.1'), 'each refusal logged per recipient')


def t_error_codes(srv):
    # with max_errors = 1 a 501 would end the session with a 421 slipped in
    # among the replies, shifting them: it goes out as 550
    rr, after, extra = lmtp_send(srv.ports['strict'], ['weird@example.org', 'bob@example.org', 'carol@example.org'])
    is_(codes(after), [550, 250, 550], 'a 501 per-recipient answer goes out as 550; the others keep their place')
    ok(after[0] and 'a syntax error for a message' in after[0], 'with its text', after[0])
    ok(extra is None, 'no 421 slipped in', extra)


def t_policy_tee(srv):
    # pipeline: exec step then policy step (a tee): carol/dave refused by the
    # first, erin/bob by the second; bob's earlier 250 does not shield it;
    # carol's answer from the second step is ignored (first refusal is final)
    rr, after, extra = lmtp_send(srv.ports['tee'], ['bob@example.org', 'carol@example.org', 'dave@example.org',
                                                    'erin@example.org', 'frank@example.org'])
    is_(codes(after), [554, 550, 451, 452, 250], 'tee: bob 554 (step 2), carol 550 / dave 451 (step 1), erin 452, frank 250')
    ok(after[3] and after[3].startswith('452 4.2.2 erin is over quota'), 'rcpt_action text kept', after[3])
    ok(after[4] and after[4].startswith('250 2.0.0 frank taken'), "frank: the policy step's own 2xx", after[4])
    ok(extra is None, 'exactly five replies', extra)


def t_bdat(srv):
    s, c = session(srv.ports['lmtp'])
    c.cmd('LHLO client.test')
    s.sendall(b'MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\n'
              b'RCPT TO:<x@example.org>\r\n')
    replies(c, 4)
    body = b'Subject: bdat\r\n\r\nchunked\r\n'
    s.sendall(b'BDAT 10\r\n' + body[:10])      # a first chunk: one reply
    r = c.reply()
    ok(r and r.startswith('250'), 'BDAT (not LAST): one reply', r)
    s.sendall(b'BDAT %d LAST\r\n' % (len(body) - 10) + body[10:])
    after = replies(c, 3)
    is_(codes(after), [250, 550, 250], 'BDAT LAST: one reply per recipient (bob, carol refused, x)')
    ok(c.reply(timeout=1) is None, 'and not one more')
    s.close()


def t_too_big(srv):
    body = 'Subject: big\r\n\r\n' + ('x' * 70 + '\r\n') * 30
    rr, after, extra = lmtp_send(srv.ports['small'], ['bob@example.org', 'x@example.org'], body=body)
    ok(codes(after) == [552, 552] and all('5.3.4' in r for r in after),
       'a message over max_message_size: 552 5.3.4 for each recipient', after)
    ok(extra is None, 'and not one more', extra)
    s, c = session(srv.ports['small'])
    c.cmd('LHLO client.test')
    s.sendall(b'MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<x@example.org>\r\n')
    replies(c, 3)
    s.sendall(b'BDAT 2000\r\n' + b'y' * 2000)
    r = c.reply()
    ok(r and r.startswith('552 5.3.4'), 'a BDAT chunk (not LAST) over the limit: one 552', r)
    ok(c.reply(timeout=1) is None, 'only one', None)
    s.close()
    s, c = session(srv.ports['small'])
    c.cmd('LHLO client.test')
    s.sendall(b'MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<x@example.org>\r\n')
    replies(c, 3)
    s.sendall(b'BDAT 2000 LAST\r\n' + b'y' * 2000)
    after = replies(c, 2)
    ok(codes(after) == [552, 552], 'BDAT LAST over the limit: 552 for each recipient', after)
    r = c.reply(timeout=1)
    ok(r is None or r.startswith('421'), 'then nothing, or the 421 of a chunk refused unread', r)
    s.close()


def t_smtp_collapse(srv):
    import smtplib
    c = smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=20)
    c.ehlo('client.test')
    c.mail('a@example.net')
    c.rcpt('bob@example.org')
    c.rcpt('carol@example.org')
    code, msg = c.data(b'Subject: mixed\r\n\r\nx\r\n')
    ok(code == 451 and msg.startswith(b'4.3.0'), 'SMTP endpoint, mixed per-recipient answers: 451 4.3.0, never 250',
       (code, msg))
    c.mail('a@example.net')
    c.rcpt('carol@example.org')
    code, msg = c.data(b'Subject: all refused\r\n\r\nx\r\n')
    ok(code == 550 and b'no mailbox here for carol' in msg, 'SMTP endpoint, all refused: that refusal', (code, msg))
    c.mail('a@example.net')
    c.rcpt('carol@example.org')
    c.rcpt('dave@example.org')
    code, msg = c.data(b'Subject: 4xx and 5xx\r\n\r\nx\r\n')
    ok(code == 451 and b'mailbox busy' in msg, 'SMTP endpoint, refused with 5xx and 4xx: the 4xx', (code, msg))
    c.mail('a@example.net')
    c.rcpt('bob@example.org')
    code, msg = c.data(b'Subject: fine\r\n\r\nx\r\n')
    is_(code, 250, 'SMTP endpoint, all taken: 250')
    c.quit()


def setup():
    d = workdir()
    write_script(d + '/exec-step', EXEC_STEP % {'dir': d})
    write_script(d + '/policy-step', POLICY_STEP)
    conf = {
        'hook.ex': {'stage': 'data', 'command': d + '/exec-step'},
        'hook.pol': {'stage': 'data', 'command': d + '/policy-step', 'persistent': 'yes'},
        'lmtp': {'protocol': 'lmtp', 'pipeline': 'ex'},
        'tee': {'protocol': 'lmtp', 'pipeline': 'ex pol'},
        'plain': {'protocol': 'LMTP', 'pipeline': 'data'},
        'smtp': {'protocol': 'smtp', 'pipeline': 'ex'},
        'small': {'protocol': 'lmtp', 'pipeline': 'ex', 'max_message_size': '1000'},
        'lmtps': {'protocol': 'lmtp', 'pipeline': 'data', 'tls': 'starttls'},
        'strict': {'protocol': 'lmtp', 'pipeline': 'ex', 'max_errors': '1'},
    }
    return Server(dir=d, config=conf, endpoints=('lmtp', 'tee', 'plain', 'smtp', 'small', 'lmtps', 'strict'), tls=True)


def config_errors():
    d = workdir()
    with open(d + '/bad.conf', 'w') as f:
        f.write('[server]\nhostname = x\n[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:2525\nprotocol = lmpt\n')
    from postern_test import BUILDDIR
    r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', d + '/bad.conf'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors='replace')
    ok(r.returncode != 0 and 'protocol' in out and 'smtp or lmtp' in out, 'posternd -t: protocol = lmpt is an error', out)


# --- the real use case: Postfix as the MX, Postern behind it over LMTP ---

PF_STEP = r'''#!/bin/sh
cat > /dev/null
while read -r r <&3; do
  case "$r" in
  carol@*) echo "RCPT $r 550 5.1.1 Postern says carol is unknown" ;;
  dave@*) echo "RCPT $r 451 4.2.1 Postern says dave is busy" ;;
  esac
done
echo "250 2.0.0 Postern stored it"
exit 0
'''


def pf_status(log, rcpt):
    m = re.findall(r'to=<%s>, relay=[^,]*127\.0\.0\.1[^,]*,.*?status=(\w+) \((.*)\)' % re.escape(rcpt), log)
    return m[-1] if m else (None, None)


def t_postfix():
    if shutil.which('postfix') is None:
        TAP.skip('Postfix in front over LMTP', 'postfix missing: apt-get install postfix')
        return
    if not IS_ROOT:
        TAP.skip('Postfix in front over LMTP', 'a private Postfix instance needs root')
        return
    from postfix_private import Postfix
    d = workdir()
    write_script(d + '/pf-step', PF_STEP)
    srv = Server(dir=d, config={'hook.st': {'stage': 'data', 'command': d + '/pf-step'},
                                'lmtp': {'protocol': 'lmtp', 'pipeline': 'st'}}, endpoints=('lmtp',))
    pfd = workdir()
    pf = Postfix(pfd, main={
        'virtual_mailbox_domains': '', 'relay_domains': 'example.org',
        'relay_transport': 'lmtp:inet:127.0.0.1:%d' % srv.ports['lmtp'],
        'default_transport': 'discard:bounces to the sender are not this test',
        'smtpd_relay_restrictions': 'permit_mynetworks, reject',
        'maximal_backoff_time': '3600s', 'minimal_backoff_time': '3600s',
    })
    try:
        pf.start()
        import smtplib
        c = smtplib.SMTP('127.0.0.1', pf.ports['smtp'], timeout=30)
        c.sendmail('sender@sender.test', ['bob@example.org', 'carol@example.org', 'dave@example.org',
                                          'erin@example.org'],
                   b'Subject: through Postfix\r\nMessage-ID: <lmtp-pf@sender.test>\r\n\r\nhello\r\n')
        c.quit()
        end = time.monotonic() + 60
        while time.monotonic() < end:
            log = pf.log()
            if all(pf_status(log, r)[0] for r in ('bob@example.org', 'carol@example.org', 'dave@example.org',
                                                 'erin@example.org')):
                break
            time.sleep(0.2)
        log = pf.log()
        st = {r: pf_status(log, r + '@example.org') for r in ('bob', 'carol', 'dave', 'erin')}
        ok(st['bob'][0] == 'sent' and 'Postern stored it' in st['bob'][1], 'Postfix log: bob status=sent', st['bob'])
        ok(st['erin'][0] == 'sent', 'Postfix log: erin (the last recipient) status=sent, not a 221 taken for it',
           st['erin'])
        ok(st['carol'][0] == 'bounced' and 'Postern says carol is unknown' in (st['carol'][1] or ''),
           "Postfix log: carol status=bounced with Postern's text", st['carol'])
        ok(st['dave'][0] == 'deferred' and 'Postern says dave is busy' in (st['dave'][1] or ''),
           "Postfix log: dave status=deferred with Postern's text", st['dave'])
        ok(not re.search(r'status=\w+ \([^)]*\b221\b', log), 'no recipient got the 221 to QUIT as its reply')
        ok(srv.wait_log(r'lhlo '), "posternd logged Postfix's LHLO")
    finally:
        pf.stop()
        ok(srv.stop() == 0, 'posternd (behind Postfix) exits 0')


def t_milter_edits():
    """A milter that adds two recipients and deletes one at the end of the
    message (t/lib/milter_recorder.py, Subject 'edits'): the LMTP client
    still gets exactly one reply per recipient it gave."""
    exe = None
    for cand in (sys.executable, '/usr/bin/python3'):
        if cand and subprocess.run([cand, '-c', 'import Milter'], capture_output=True).returncode == 0:
            exe = cand
            break
    if exe is None:
        TAP.skip('LMTP with a milter that edits recipients', 'python3-milter missing: apt-get install python3-milter')
        return
    d = workdir()
    port = free_port()
    rec = subprocess.Popen([exe, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib', 'milter_recorder.py'),
                            str(port), d + '/events.jsonl'], stdout=subprocess.DEVNULL, stderr=open(d + '/rec.err', 'w'))
    srv = None
    try:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        write_script(d + '/exec-step', EXEC_STEP % {'dir': d})
        srv = Server(dir=d, config={'milter.rec': {'socket': 'inet:127.0.0.1:%d' % port, 'command_timeout': 10,
                                                   'content_timeout': 10},
                                    'hook.ex': {'stage': 'data', 'command': d + '/exec-step'},
                                    'lmtp': {'protocol': 'lmtp', 'pipeline': 'rec ex'}}, endpoints=('lmtp',))
        rr, after, extra = lmtp_send(srv.ports['lmtp'], ['del@example.org', 'carol@example.org', 'x@example.org'],
                                     body='Subject: edits\r\nX-Gone: 1\r\n\r\nbody\r\n')
        ok(len(after) == 3 and extra is None,
           'milter deleted one recipient and added two: still exactly 3 replies', (after, extra))
        is_(codes(after), [250, 550, 250], 'del (removed by the milter) 250, carol refused by the step, x 250')
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd (with the milter) exits 0')
        rec.terminate()
        rec.wait(10)


def main():
    config_errors()
    srv = None
    try:
        srv = setup()
        for fn in (t_greeting, t_plain, t_starttls, t_exec, t_error_codes, t_policy_tee, t_bdat, t_too_big, t_smtp_collapse):
            TAP.run(fn, srv)
    except Exception as e:  # noqa: BLE001
        ok(False, 'start posternd', repr(e))
    finally:
        if srv is not None:
            ok(not srv.sanitizer_reports(), 'no sanitizer report in the server log')
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    TAP.run(t_milter_edits)
    TAP.run(t_postfix)
    return TAP.done()


run_main(main)
