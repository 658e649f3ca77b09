#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# pipeline.py - named steps and pipelines (DESIGN.md Part 2), through
# smtplib: steps asked in pipeline order with the first refusal deciding,
# per-endpoint pipelines into different Maildirs, headers prepended by exec
# and policy steps at the rcpt and data stages (in the store, and seen by
# later data steps), bad header text dropped and logged, a persistent step
# serving mail/rcpt/data with one instance= per transaction, tee semantics,
# Authentication-Results hygiene, milter sections, config errors.
import os
import re
import smtplib
import subprocess

from postern_test import TAP, Server, BUILDDIR, IS_ROOT, workdir, write_script, install_program, run_main

ok, is_ = TAP.ok, TAP.is_

RCPT_STEP = r'''#!/bin/sh
echo "$POSTERN_STEP $POSTERN_HOOK $POSTERN_RCPT" >> %(log)s
case "$POSTERN_RCPT" in
deny-$POSTERN_STEP@*) echo "550 5.7.1 refused by $POSTERN_STEP"; exit 1 ;;
esac
echo "PREPEND X-Step-$POSTERN_STEP: rcpt $POSTERN_RCPT"
exit 0
'''

BAD_STEP = r'''#!/bin/sh
echo "PREPEND Bad Name: a space in the name"
echo "PREPEND NoColonHere"
printf 'PREPEND X-Ctl: a\001b\n'
echo "PREPEND X-Long: %(long)s"
echo "PREPEND X-Good: yes"
echo "250 2.1.5 fine"
exit 0
'''

FILTER_STEP = r'''#!/bin/sh
msg=$(cat)
echo "$POSTERN_STEP $POSTERN_HOOK" >> %(log)s
case "$msg" in
*"Subject: refuse-me"*) echo "554 5.7.1 content refused by the filter"; exit 1 ;;
esac
case "$msg" in
*"X-Policy-Rcpt:"*) seen=yes ;;
*) seen=no ;;
esac
echo "PREPEND X-Filter: saw-policy-header=$seen"
exit 0
'''

POLICY_STEP = r'''#!/usr/bin/python3
import sys
inp, out = sys.stdin.buffer, sys.stdout
log = open(%(log)r, 'a')
while True:
    attrs = {}
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        line = line.rstrip(b'\n')
        if not line:
            break
        k, _, v = line.partition(b'=')
        attrs.setdefault(k.decode(), v.decode('latin-1'))
    body = b''
    if attrs.get('request') == 'postern_data':
        body = inp.read(int(attrs['size']))
    st = attrs.get('protocol_state')
    log.write('%%s %%s %%s %%s\n' %% (attrs.get('postern_step'), st, attrs.get('instance'),
                                  attrs.get('recipient', '')))
    log.flush()
    if st == 'RCPT':
        a = 'PREPEND X-Policy-Rcpt: ' + attrs['recipient']
    elif st == 'END-OF-MESSAGE':
        a = 'PREPEND X-Policy-Data: saw-filter=' + ('yes' if b'\nX-Filter:' in b'\n' + body else 'no')
    else:
        a = 'DUNNO'
    out.write('action=%%s\n\n' %% a)
    out.flush()
'''

BROKEN_STEP = '#!/bin/sh\ncat >/dev/null\necho "$POSTERN_STEP $POSTERN_HOOK" >> %(log)s\nexit 3\n'
SLOW_STEP = '#!/bin/sh\nexec sleep 30\n'

FAIL_STEP = '#!/bin/sh\ncat >/dev/null\necho "$POSTERN_STEP ran" >> %(log)s\nexit 75\n'


def clear_log(path):
    """Empty the steps' log; writable by the workers' user."""
    with open(path, 'w'):
        pass
    os.chmod(path, 0o666)


def read_log(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def maildir_msgs(d):
    try:
        return sorted(os.path.join(d, 'new', f) for f in os.listdir(os.path.join(d, 'new')))
    except OSError:
        return []


def text_of(path):
    with open(path, 'rb') as f:
        return f.read().decode('latin-1')


def setup():
    d = workdir()
    log = d + '/steps.log'
    steps = {
        'first': write_script(d + '/first', RCPT_STEP % {'log': log}),
        'second': write_script(d + '/second', RCPT_STEP % {'log': log}),
        'bad': write_script(d + '/bad', BAD_STEP % {'long': 'x' * 1000}),
        'filter': write_script(d + '/filter', FILTER_STEP % {'log': log}),
        'pol': write_script(d + '/pol', POLICY_STEP % {'log': log}),
        'failing': write_script(d + '/failing', FAIL_STEP % {'log': log}),
        'broken': write_script(d + '/broken', BROKEN_STEP % {'log': log}),
        'slow': write_script(d + '/slow', SLOW_STEP),
    }
    maildir = install_program(d, os.path.join(BUILDDIR, 'hooks', 'postern-maildir'))
    conf = {
        'hook.first': {'stage': 'rcpt', 'command': steps['first']},
        'hook.second': {'stage': 'rcpt', 'command': steps['second']},
        'hook.bad': {'stage': 'rcpt', 'command': steps['bad']},
        'hook.filter': {'stage': 'data', 'command': steps['filter']},
        'hook.pol': {'stage': 'mail rcpt data', 'command': steps['pol'], 'persistent': 'yes', 'timeout': 10},
        'hook.failing': {'stage': 'data', 'command': steps['failing']},
        'hook.store_a': {'stage': 'data', 'command': '%s %s/A' % (maildir, d)},
        'hook.store_b': {'stage': 'data', 'command': '%s %s/B' % (maildir, d)},
        'hook.broken': {'stage': 'rcpt data', 'command': steps['broken'], 'on_error': 'accept'},
        'hook.slow': {'stage': 'rcpt', 'command': steps['slow'], 'timeout': 1, 'on_error': 'accept'},
        'hook.strict': {'stage': 'rcpt', 'command': steps['slow'], 'timeout': 1},
        'milter.m1': {'socket': 'inet:127.0.0.1:9', 'default_action': 'accept'},
        'milter.m2': {'socket': 'unix:/nonexistent/milter.sock', 'default_action': 'reject'},
        'smtp': {'pipeline': 'first second bad filter pol data'},
        'other': {'pipeline': 'store_b'},
        'tee': {'pipeline': 'store_a failing'},
        'tee2': {'pipeline': 'filter store_a store_b'},
        'milt': {'pipeline': 'm1 store_a'},
        'milt2': {'pipeline': 'm2 store_a'},
        'lenient': {'pipeline': 'broken slow store_a'},
        'lenient2': {'pipeline': 'broken'},
        'strict': {'pipeline': 'strict store_a'},
    }
    clear_log(log)
    srv = Server(config=conf, dir=d, endpoints=('smtp', 'other', 'tee', 'tee2', 'milt', 'milt2', 'lenient',
                                                'lenient2', 'strict'))
    srv.steplog = log
    return srv


def rcpt(c, addr):
    return c.rcpt(addr)


def t_order_short_circuit(srv):
    clear_log(srv.steplog)
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=20) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        code, msg = c.rcpt('deny-first@example.org')
        ok(code == 550 and b'refused by first' in msg, 'first rcpt step refuses: its 550 is the reply', (code, msg))
        code, msg = c.rcpt('deny-second@example.org')
        ok(code == 550 and b'refused by second' in msg, 'second rcpt step refuses: its 550', (code, msg))
        code, msg = c.rcpt('ok@example.org')
        ok(code == 250 and msg == b'2.1.5 fine', 'all steps accept: 250 with the text of the last step that gave one '
           '(its enhanced code not doubled)',
           (code, msg))
        c.rset()
    lines = [l for l in read_log(srv.steplog) if ' RCPT ' in l or ' rcpt ' in l]
    want = ['first rcpt deny-first@example.org',
            'first rcpt deny-second@example.org', 'second rcpt deny-second@example.org',
            'first rcpt ok@example.org', 'second rcpt ok@example.org']
    got = [l for l in lines if not l.startswith('pol ')]
    is_(got, want, 'exec rcpt steps asked in pipeline order; none after the first refusal')
    pol = [l for l in lines if l.startswith('pol ')]
    ok(len(pol) == 1 and pol[0].endswith('ok@example.org'),
       'the policy step is asked only for the recipient every earlier step accepted', pol)


def t_headers_and_instance(srv):
    clear_log(srv.steplog)
    before = len(srv.messages())
    msg = 'From: s@example.org\r\nSubject: pipeline-headers\r\n\r\nbody\r\n'
    with smtplib.SMTP('127.0.0.1', srv.ports['smtp'], timeout=20) as c:
        c.ehlo('client.example')
        c.sendmail('s@example.org', ['ok@example.org'], msg)
        c.sendmail('s@example.org', ['ok2@example.org'], msg.replace('pipeline-headers', 'second-message'))
    is_(len(srv.messages()), before + 2, 'both messages stored')
    text = srv.message('pipeline-headers')
    head = text.split('\n\n', 1)[0].split('\n')
    names = [l.split(':', 1)[0] for l in head if not l.startswith(('\t', ' '))]
    is_(names[:7], ['X-Step-first', 'X-Step-second', 'X-Good', 'X-Policy-Rcpt', 'X-Filter', 'X-Policy-Data',
                    'Received'], 'step headers at the top, above our Received:, in the order the steps ran')
    ok('X-Policy-Rcpt: ok@example.org' in text, 'policy PREPEND at rcpt lands in the store')
    ok('X-Step-first: rcpt ok@example.org' in text, 'exec PREPEND at rcpt lands in the store')
    ok('X-Filter: saw-policy-header=yes' in text, 'a data step sees the headers rcpt steps added')
    ok('X-Policy-Data: saw-filter=yes' in text, 'a later data step (policy) sees the header an earlier one (exec) added')
    ok('X-Step-first: rcpt ok2' not in text, 'headers of one transaction do not leak into the next')
    pol = [l.split() for l in read_log(srv.steplog) if l.startswith('pol ')]
    states = [p[1] for p in pol]
    is_(states, ['MAIL', 'RCPT', 'END-OF-MESSAGE'] * 2, 'one co-process sees MAIL, RCPT and END-OF-MESSAGE of each transaction')
    inst = [p[2] for p in pol]
    ok(len(set(inst[:3])) == 1 and len(set(inst[3:])) == 1 and inst[0] != inst[3],
       'instance= is the same for all requests of a transaction, new for the next', inst)


def t_bad_headers(srv):
    text = srv.message('pipeline-headers')
    ok('X-Good: yes' in text, 'a valid header of a step with bad ones is added')
    ok('Bad Name' not in text and 'NoColonHere' not in text and 'X-Ctl' not in text and 'X-Long' not in text,
       'invalid header text is not added')
    log = srv.log_text()
    for what, pat in (('space in the name', r'hook bad: header not added \(the field name holds a space'),
                      ('no colon', r'hook bad: header not added \(no colon'),
                      ('control character', r'hook bad: header not added \(the value holds a control'),
                      ('over 998 octets', r'hook bad: header not added \(longer than 998')):
        ok(re.search(pat, log), 'a header with %s is logged with the step name' % what)


def t_endpoints(srv):
    d = srv.dir
    with smtplib.SMTP('127.0.0.1', srv.ports['other'], timeout=20) as c:
        c.sendmail('s@example.org', ['x@example.org'], 'Subject: to-other\r\n\r\nb\r\n')
    b = maildir_msgs(d + '/B')
    ok(len(b) == 1 and 'Subject: to-other' in text_of(b[0]), 'endpoint "other" stores into its own Maildir B')
    ok(not srv.message('to-other'), 'and not into the Maildir of endpoint "smtp"')
    ok('X-Step-first' not in text_of(b[0]), 'no step of the smtp pipeline ran for it')


def t_tee(srv):
    d = srv.dir
    clear_log(srv.steplog)
    na = len(maildir_msgs(d + '/A'))
    with smtplib.SMTP('127.0.0.1', srv.ports['tee'], timeout=20) as c:
        try:
            c.sendmail('s@example.org', ['x@example.org'], 'Subject: tee-fail\r\n\r\nb\r\n')
            code = 250
        except smtplib.SMTPDataError as e:
            code = e.smtp_code
    is_(code, 451, 'tee whose second store fails: 451')
    is_(len(maildir_msgs(d + '/A')), na + 1, 'the first store has it (a retry makes a duplicate, as documented)')
    ok('failing ran' in read_log(srv.steplog), 'the second store ran')
    ok(srv.wait_log(r'status=deferred \(failing hook exit 75\)'), 'the log names the step that decided')
    clear_log(srv.steplog)
    na, nb = len(maildir_msgs(d + '/A')), len(maildir_msgs(d + '/B'))
    with smtplib.SMTP('127.0.0.1', srv.ports['tee2'], timeout=20) as c:
        try:
            c.sendmail('s@example.org', ['x@example.org'], 'Subject: refuse-me\r\n\r\nb\r\n')
            code, msg = 250, b''
        except smtplib.SMTPDataError as e:
            code, msg = e.smtp_code, e.smtp_error
        ok(code == 554 and b'content refused by the filter' in msg, 'a refusing first filter: its 5xx', (code, msg))
        c.sendmail('s@example.org', ['x@example.org'], 'Subject: tee-both\r\n\r\nb\r\n')
    is_((len(maildir_msgs(d + '/A')), len(maildir_msgs(d + '/B'))), (na + 1, nb + 1),
        'the refused message reached no store; the next one reached both')


AR_MSG = '\r\n'.join([
    'Authentication-Results: mx.test; spf=pass (forged 1)',
    'authentication-results: MX.TEST; dkim=pass (forged 2)',
    'Authentication-Results : mx.test; x=y (forged 3)',
    'Authentication-Results: (a (nested) comment) mx.test; spf=pass (forged 4)',
    'Authentication-Results:',
    '\tmx.test;',
    '\tspf=pass (forged 5)',
    'Authentication-Results: "mx.test"; spf=pass (forged 6)',
    'Authentication-Results: mx.test(comment); spf=pass (forged 7)',
    'Authentication-Results: mx.test 1; spf=pass (forged 8)',
    'Authentication-Results: mx.test.evil.example; spf=pass (kept 1)',
    'Authentication-Results: other.example; spf=pass smtp.mailfrom=mx.test (kept 2)',
    'X-Authentication-Results: mx.test; (kept 3)',
    'Subject: ar-strip',
    '',
    'Authentication-Results: mx.test; in the body (kept 4)',
    ''])


def t_ar_strip(srv):
    with smtplib.SMTP('127.0.0.1', srv.ports['other'], timeout=20) as c:
        c.sendmail('s@example.org', ['x@example.org'], AR_MSG)
    texts = [text_of(p) for p in maildir_msgs(srv.dir + '/B')]
    text = ([t for t in texts if 'Subject: ar-strip' in t] or [''])[0]
    ok(text, 'the message was stored')
    forged = re.findall(r'forged \d', text)
    is_(forged, [], 'every Authentication-Results field with our authserv-id (any case, comments, folding, quoted) is removed')
    kept = re.findall(r'kept \d', text)
    is_(kept, ['kept 1', 'kept 2', 'kept 3', 'kept 4'], 'other authserv-ids, other fields and the body are kept')
    ok(srv.wait_log(r'removed 8 Authentication-Results fields with our authserv-id mx\.test'), 'the removal is logged')


def t_milter(srv):
    d = srv.dir
    na = len(maildir_msgs(d + '/A'))
    with smtplib.SMTP('127.0.0.1', srv.ports['milt'], timeout=20) as c:
        c.sendmail('s@example.org', ['x@example.org'], 'Subject: milter-accept\r\n\r\nb\r\n')
    is_(len(maildir_msgs(d + '/A')), na + 1, 'milter step with default_action = accept: the mail goes on')
    ok(srv.wait_log(r'milter m1 \(inet:127\.0\.0\.1:9\): cannot connect.*default_action accept'),
       'the unreachable milter is logged with its name and default_action')
    c = smtplib.SMTP(timeout=20)
    code, msg = c.connect('127.0.0.1', srv.ports['milt2'])
    ok(code == 554, 'milter step with default_action = reject: 554 at connect', (code, msg))
    c.close()


def t_on_error(srv):
    d = srv.dir
    clear_log(srv.steplog)
    na = len(maildir_msgs(d + '/A'))
    with smtplib.SMTP('127.0.0.1', srv.ports['lenient'], timeout=30) as c:
        c.sendmail('s@example.org', ['x@example.org'], 'Subject: lenient\r\n\r\nb\r\n')
    is_(len(maildir_msgs(d + '/A')), na + 1, 'steps failing with on_error = accept (exit 3, a timeout) let the mail through')
    is_(read_log(srv.steplog), ['broken rcpt', 'broken data'], 'the broken step was asked at rcpt and at data')
    ok(srv.wait_log(r'hook slow: .* did not answer within 1 s') and
       srv.wait_log(r'hook slow: failed; on_error = accept: going on without it'),
       'the step timeout applies, and the failure is logged as passed over')
    with smtplib.SMTP('127.0.0.1', srv.ports['lenient2'], timeout=30) as c:
        try:
            c.sendmail('s@example.org', ['x@example.org'], 'Subject: lenient2\r\n\r\nb\r\n')
            code = 250
        except smtplib.SMTPDataError as e:
            code = e.smtp_code
    is_(code, 451, 'a data stage where every step failed with on_error = accept: 451, never 250')
    with smtplib.SMTP('127.0.0.1', srv.ports['strict'], timeout=30) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        code, msg = c.rcpt('x@example.org')
    ok(code == 451 and msg.startswith(b'4.4.1'), 'the same timeout with on_error = tempfail (default): 451 4.4.1', (code, msg))


def config_errors():
    d = workdir()
    maildir = os.path.join(BUILDDIR, 'hooks', 'postern-maildir')
    base = '[server]\nhostname = mx.test\n' + ('user = nobody\ngroup = nogroup\n' if IS_ROOT else '')
    cases = [
        ('unknown step', base + '[hooks]\ndata = %s %s\n[smtp]\nlisten = 127.0.0.1:25\npipeline = data nope\n' % (maildir, d),
         r"\[smtp\] pipeline: no step named 'nope'"),
        ('step without stage', base + '[hook.x]\ncommand = /bin/true\n[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:25\n',
         r'\[hook\.x\] stage: missing'),
        ('bad stage', base + '[hook.x]\nstage = rcpt dta\ncommand = /bin/true\n[hooks]\ndata = /bin/true\n[smtp]\nlisten = 127.0.0.1:25\n',
         r"\[hook\.x\] stage: 'dta' is not a stage"),
        ('no data step', base + '[hook.x]\nstage = rcpt\ncommand = /bin/true\n[hooks]\ndata = /bin/true\n'
         '[smtp]\nlisten = 127.0.0.1:25\npipeline = x\n', r'\[smtp\] pipeline: no data step'),
        ('only a milter at data', base + '[milter.m]\nsocket = inet:127.0.0.1:11332\n[smtp]\nlisten = 127.0.0.1:25\n',
         r'\[smtp\] pipeline: no data step'),
        ('bad on_error', base + '[hook.x]\nstage = data\ncommand = /bin/true\non_error = maybe\n[smtp]\nlisten = 127.0.0.1:25\n',
         r"\[hook\.x\] on_error: 'maybe'"),
        ('bad default_action', base + '[milter.m]\nsocket = unix:/run/m.sock\ndefault_action = later\n'
         '[hook.s]\nstage = data\ncommand = /bin/true\n[smtp]\nlisten = 127.0.0.1:25\n',
         r"\[milter\.m\] default_action: 'later'"),
        ('unknown key in a step', base + '[hook.x]\nstage = data\ncommand = /bin/true\nstages = rcpt\n[smtp]\nlisten = 127.0.0.1:25\n',
         r'\[hook\.x\] stages: unknown key'),
        ('a step named twice', base + '[hooks]\ndata = /bin/true\n[hook.data]\nstage = data\ncommand = /bin/true\n'
         '[smtp]\nlisten = 127.0.0.1:25\n', r"a step named 'data' exists already"),
        ('attributes on an exec step', base + '[hook.x]\nstage = data\ncommand = /bin/true\nattributes = sender\n'
         '[smtp]\nlisten = 127.0.0.1:25\n', r'\[hook\.x\] attributes: only a persistent step'),
        ('a bad attribute name', base + '[hook.x]\nstage = data\ncommand = /bin/true\npersistent = yes\n'
         'attributes = sender Client_Address\n[smtp]\nlisten = 127.0.0.1:25\n',
         r"\[hook\.x\] attributes: 'Client_Address' is no attribute name"),
    ]
    for name, text, pat in cases:
        path = d + '/bad.conf'
        with open(path, 'w') as f:
            f.write(text)
        r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', path], capture_output=True, text=True, timeout=20)
        out = r.stdout + r.stderr
        ok(r.returncode != 0 and re.search(pat, out), 'posternd -t refuses %s' % name, out)
    good = base + ('[milter.rspamd]\nsocket = inet:127.0.0.1:11332\ndefault_action = accept\nconnect_timeout = 5\n'
                   'command_timeout = 5\ncontent_timeout = 60\n[hook.store]\nstage = data\ncommand = /bin/true\n'
                   '[smtp]\nlisten = 127.0.0.1:25\n[submission]\nlisten = 127.0.0.1:587\npipeline = store\n')
    with open(d + '/good.conf', 'w') as f:
        f.write(good)
    r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', d + '/good.conf'], capture_output=True, text=True, timeout=20)
    ok(r.returncode == 0, 'posternd -t accepts [milter.NAME] sections, and no [hooks] data when a step stores',
       r.stdout + r.stderr)


LEGACY_HOOK = r'''#!/bin/sh
echo "$POSTERN_STEP $POSTERN_HOOK $(pwd)" >> %(log)s
case "$POSTERN_MAIL_FROM" in slow@*) [ "$POSTERN_HOOK" = mail ] && exec sleep 30 ;; esac
exit 0
'''

LEGACY_AUTH = r'''#!/bin/sh
# checkpassword: user NUL password NUL timestamp NUL on fd 3
creds=$(tr '\000' ' ' <&3)
echo "auth-cp $POSTERN_STEP" >> %(log)s
case "$creds" in "alice secret "*) exit 0 ;; esac
exit 1
'''

LEGACY_RCPT = r'''#!/usr/bin/python3
import sys
inp = sys.stdin
while True:
    a = {}
    for line in inp:
        line = line.rstrip('\n')
        if not line:
            break
        k, _, v = line.partition('=')
        a[k] = v
    else:
        sys.exit(0)
    with open(%(log)r, 'a') as f:
        f.write('%%s %%s policy\n' %% (a.get('postern_step'), a.get('postern_hook')))
    sys.stdout.write('action=REJECT 5.1.1 no such user\n\n' if a.get('recipient', '').startswith('deny@')
                     else 'action=DUNNO\n\n')
    sys.stdout.flush()
'''


def t_legacy():
    """Every [hooks] key, as before: each the step named after its stage."""
    d = workdir()
    log = d + '/legacy.log'
    clear_log(log)
    hook = write_script(d + '/hook', LEGACY_HOOK % {'log': log})
    auth = write_script(d + '/auth', LEGACY_AUTH % {'log': log})
    rcpt = write_script(d + '/rcpt', LEGACY_RCPT % {'log': log})
    os.mkdir(d + '/wd')
    os.chmod(d + '/wd', 0o755)
    conf = {'hooks': {'connect': hook, 'helo': hook, 'auth': auth, 'mail': hook, 'rcpt': rcpt,
                      'timeout': 20, 'data_timeout': 60, 'directory': d + '/wd', 'data_crlf': 'yes',
                      'persistent': 'rcpt', 'auth_protocol': 'checkpassword', 'connect_timeout': 10,
                      'helo_timeout': 10, 'auth_timeout': 10, 'mail_timeout': 1, 'rcpt_timeout': 10},
            'smtp': {'auth': 'optional', 'insecure_auth': 'yes'}}
    with Server(config=conf, dir=d) as srv:
        with smtplib.SMTP('127.0.0.1', srv.port, timeout=30) as c:
            c.ehlo('client.example')
            code, _ = c.docmd('AUTH', 'PLAIN ' + __import__('base64').b64encode(b'\0alice\0wrong').decode())
            is_(code, 535, '[hooks] auth with auth_protocol = checkpassword refuses a wrong password')
            c.login('alice', 'secret')
            code, msg = c.mail('slow@example.org')
            ok(code == 451 and msg.startswith(b'4.4.1'), 'mail_timeout = 1 bounds the mail hook: 451 4.4.1', (code, msg))
            c.mail('s@example.org')
            code, msg = c.rcpt('deny@example.org')
            ok(code == 550 and b'no such user' in msg, 'persistent = rcpt: the policy co-process refuses', (code, msg))
            c.rcpt('ok@example.org')
            code, _ = c.data('Subject: legacy\r\n\r\nline\r\n')
            is_(code, 250, 'the [hooks] data hook stores it')
        texts = [text_of(p) for p in srv.messages()]
        text = ([t for t in texts if 'Subject: legacy' in t] or [''])[0]
    ok('\r\n' in text and 'Received: from client.example' in text, 'data_crlf = yes: CR LF line ends in the store')
    lines = read_log(log)
    wd = os.path.realpath(d + '/wd')
    for stage in ('connect', 'helo', 'mail'):
        ok('%s %s %s' % (stage, stage, wd) in lines, '[hooks] %s runs as step "%s" in [hooks] directory' % (stage, stage),
           lines)
    ok('auth-cp auth' in lines, '[hooks] auth runs as step "auth"')
    ok('rcpt rcpt policy' in lines, '[hooks] rcpt (persistent) runs as step "rcpt"')


def main():
    config_errors()
    TAP.run(t_legacy)
    srv = None
    try:
        srv = setup()
        for fn in (t_order_short_circuit, t_headers_and_instance, t_bad_headers, t_endpoints, t_tee,
                   t_ar_strip, t_milter, t_on_error):
            TAP.run(fn, srv)
    except Exception as e:  # noqa: BLE001
        ok(False, 'start posternd', repr(e))
    finally:
        if srv is not None:
            ok(srv.stop() == 0, 'posternd exits 0 on SIGTERM')
    return TAP.done()


run_main(main)
