#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# maildir-durable.py - the durability order of postern-maildir in persistent
# mode, as the kernel sees it, and what a killed delivery leaves behind.
#
# 1. Under strace (-f: the helper thread's fsync counts), three messages:
#    for each, the file's bytes are synced (fdatasync or fsync of its
#    descriptor) before it gets its name in new/ (linkat or link), and the
#    new/ directory and (for an anonymous O_TMPFILE file) the file again are
#    synced after that name exists and before "action=OK" is written.
# 2. SIGKILL at random moments of 4 MiB deliveries: every file in new/ is
#    whole (its size is its ,S= and its bytes are a message that was sent),
#    and, where the file is anonymous until it is named, tmp/ stays empty.
import os
import random
import re
import shutil
import signal
import subprocess
import time

from postern_test import BUILDDIR, TAP, run_main, workdir

ok, is_ = TAP.ok, TAP.is_
HOOK = os.path.join(BUILDDIR, 'hooks', 'postern-maildir')
ENV = {'POSTERN_PERSISTENT': '1', 'PATH': '/usr/bin:/bin'}


def request(body):
    return b'request=postern_data\nprotocol_state=END-OF-MESSAGE\nsize=%d\n\n' % len(body) + body


def answer(p):
    out = b''
    while not out.endswith(b'\n\n'):
        line = p.stdout.readline()
        if not line:
            break
        out += line
    return out


def events(log):
    """(pid, name, args, result) per completed system call, in the order
    they completed; an interrupted call's arguments come from its start."""
    started, out = {}, []
    for line in log.splitlines():
        m = re.match(r'(\d+) +(.*)$', line)
        if not m:
            continue
        pid, rest = m.group(1), m.group(2)
        m = re.match(r'(\w+)\((.*) <unfinished \.\.\.>$', rest)
        if m:
            started[pid] = (m.group(1), m.group(2))
            continue
        m = re.match(r'<\.\.\. (\w+) resumed>(.*)\) += (-?\d+)', rest)
        if m:
            name, args = started.pop(pid, (m.group(1), ''))
            out.append((pid, name, args + m.group(2), int(m.group(3))))
            continue
        m = re.match(r'(\w+)\((.*)\) += (-?\d+)', rest)
        if m:
            out.append((pid, m.group(1), m.group(2), int(m.group(3))))
    return out


def check_order(evs, n):
    """Split EVS at each "action=OK" and check one delivery per part."""
    part, parts = [], []
    for e in evs:
        part.append(e)
        if e[1] == 'write' and e[2].startswith('1, "action=OK'):
            parts.append(part)
            part = []
    is_(len(parts), n, 'strace: %d answers action=OK' % n)
    for i, part in enumerate(parts, 1):
        file_fd, anonymous, dir_fd, linked = None, False, None, None
        synced_before, dir_after, file_after = False, False, False
        for pid, name, args, res in part:
            if name == 'openat' and res >= 0 and 'O_TMPFILE' in args:
                file_fd, anonymous = res, True
            elif name == 'openat' and res >= 0 and 'O_CREAT' in args and '/tmp/' in args:
                file_fd = res
            elif name == 'openat' and res >= 0 and 'O_DIRECTORY' in args and args.split(',')[1].strip().endswith('/new"'):
                dir_fd = res
            elif name in ('linkat', 'link', 'rename') and res == 0:
                linked = True
            elif name in ('fsync', 'fdatasync') and res == 0:
                fd = int(args.split(',')[0])
                if fd == file_fd and not linked:
                    synced_before = True
                elif fd == dir_fd and linked:
                    dir_after = True
                elif fd == file_fd and linked and name == 'fsync':
                    file_after = True
        ok(file_fd is not None and linked, 'message %d: a file was created and named into new/' % i)
        ok(synced_before, 'message %d: its bytes were synced before it had a name in new/' % i)
        ok(dir_after, 'message %d: new/ was synced after the name, before action=OK' % i)
        if anonymous:
            ok(file_after, 'message %d: the anonymous file was synced again (link count) before action=OK' % i)


def t_order():
    if shutil.which('strace') is None:
        TAP.skip('durability order', 'strace missing: apt-get install strace')
        return
    d = workdir()
    log = os.path.join(d, 'strace.log')
    md = os.path.join(d, 'Maildir')
    p = subprocess.Popen(['strace', '-f', '-o', log, '-e',
                          'trace=openat,write,fsync,fdatasync,linkat,link,rename',
                          HOOK, md], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
    bodies = [b'Subject: one\n\nsmall\n', b'Subject: two\n\n' + b'x' * 100000 + b'\n', b'']
    answers = []
    for b in bodies:
        p.stdin.write(request(b))
        p.stdin.flush()
        answers.append(answer(p))
    p.stdin.close()
    p.wait(timeout=30)
    is_(answers, [b'action=OK\n\n'] * 3, 'strace: three deliveries answered action=OK')
    with open(log, errors='replace') as f:
        check_order(events(f.read()), 3)
    got = sorted(open(os.path.join(md, 'new', n), 'rb').read() for n in os.listdir(os.path.join(md, 'new')))
    is_(got, sorted(bodies), 'strace: new/ holds the three messages, whole')


def anonymous_possible(d):
    try:
        fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    return os.path.isdir('/proc/self/fd')


def t_killed():
    d = workdir()
    md = os.path.join(d, 'Maildir')
    rnd = random.Random(18)
    sent, killed, answered = set(), 0, 0
    for i in range(12):
        body = (b'Subject: %d\n\n' % i) + bytes(rnd.getrandbits(8) for _ in range(256)) * (16384 if i % 2 else 1)
        sent.add(body)
        p = subprocess.Popen([HOOK, md], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
        req = request(body)
        # a third answered, a third killed once all is sent (while it
        # writes or syncs), a third killed in the middle of the message
        cut = len(req) if i % 3 < 2 else rnd.randrange(len(req))
        try:
            p.stdin.write(req[:cut])
            p.stdin.flush()
            if i % 3 == 0:
                answered += answer(p) == b'action=OK\n\n'
            else:
                time.sleep(rnd.random() / 50)
        except BrokenPipeError:
            pass
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        killed += 1
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except BrokenPipeError:
                pass
    new = os.listdir(os.path.join(md, 'new'))
    whole = 0
    for n in new:
        data = open(os.path.join(md, 'new', n), 'rb').read()
        m = re.search(r',S=(\d+)$', n)
        whole += bool(m) and int(m.group(1)) == len(data) and data in sent
    TAP.note('%d hooks killed, %d files in new/ (%d answered before the kill)' % (killed, len(new), answered))
    is_(whole, len(new), 'killed deliveries: every file in new/ is a whole message (size = S=, bytes sent)')
    ok(len(new) >= answered, 'killed deliveries: every message answered action=OK is in new/')
    tmp = os.listdir(os.path.join(md, 'tmp'))
    if anonymous_possible(os.path.join(md, 'tmp')):
        is_(tmp, [], 'killed deliveries: tmp/ is empty (the file has no name before new/)')
    else:
        TAP.skip('killed deliveries: tmp/ is empty', 'no O_TMPFILE here: killed deliveries leave tmp/ files')


def main():
    if not os.access(HOOK, os.X_OK):
        return TAP.skip_all('postern-maildir not built in %s/hooks' % BUILDDIR)
    TAP.run(t_order)
    TAP.run(t_killed)
    return TAP.done()


run_main(main)
