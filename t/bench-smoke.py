#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# bench-smoke.py - bench/ does not rot: bench/run parses its options, lists
# every part in --dry-run (nothing is started), refuses an unknown part
# and a run without a posternd to measure;
# every script it calls answers --help (their imports, bench/run loaded as
# a module, t/lib's milters); every Python file of bench/ compiles; and the
# summary of the targets (bench/targets.py) says met, NOT MET and "not
# measured" from canned figures; the Python no-op step answers a request
# with size= and nothing after it.  No server runs: a few seconds, no load.
#
# Python 3 standard library only.  Prints TAP.
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from postern_test import TAP  # noqa: E402

SRC = os.environ.get('POSTERN_SRCDIR') or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
BENCH = os.path.join(SRC, 'bench')
sys.path.insert(0, BENCH)
import suite  # noqa: E402
import targets  # noqa: E402

ok, is_ = TAP.ok, TAP.is_


def run(*argv, env=None):
    r = subprocess.run([sys.executable, os.path.join(BENCH, 'run')] + list(argv), capture_output=True,
                       text=True, timeout=60, env=env)
    return r.returncode, r.stdout + r.stderr


def help_and_errors():
    rc, out = run('--help')
    is_(rc, 0, 'bench/run --help exits 0')
    ok(all('\n  %s ' % p in out for p in suite.PARTS), 'its help lists every part', out)
    for opt in ('--quick', '--runs', '--only', '--skip', '--dry-run'):
        ok(opt in out, 'its help shows %s' % opt)
    rc, out = run('--only', 'b,nosuch')
    is_(rc, 2, 'an unknown part is refused')
    ok('no part nosuch' in out and 'growth' in out, 'the error names it and the parts', out)
    rc, out = run('--only', 'b', '--out', '/nonexistent/bench-smoke',
                  env=dict(os.environ, POSTERN_BUILDDIR='/nonexistent/build'))
    ok(rc != 0 and 'no posternd in /nonexistent/build: build first' in out,
       'past the options, without a build: it says to build first, and starts nothing', out)


def dry_run():
    rc, out = run('--dry-run', '--out', '/nonexistent/bench-smoke')
    is_(rc, 0, 'bench/run --dry-run exits 0')
    steps = [line for line in out.splitlines() if line.startswith('[')]
    parts = {line.split('] ', 1)[1].split(':', 1)[0] for line in steps}
    want = {'core', 'pipeline'} | {p for p in suite.PARTS if p not in suite.SCENARIOS and p != 'pipeline'}
    is_(parts, want, 'every part has its steps')
    ok(all(line.startswith('[%d/%d] ' % (k, len(steps))) for k, line in enumerate(steps, 1)),
       'steps are numbered k/N', out)
    ok(not os.path.exists('/nonexistent/bench-smoke'), 'a dry run creates nothing')
    for name in suite.SCRIPTS:
        line = next((x for x in steps if x.split('] ', 1)[1].startswith(name + ':')), '')
        script = line.split(': ', 1)[1].split()[0] if line else ''
        ok(os.access(script, os.R_OK), '%s runs a script of bench/ (%s)' % (name, script))
    rc, out = run('--dry-run', '--quick', '--runs', '1', '--only', 'growth,milter', '--skip', 'milter')
    steps = [line for line in out.splitlines() if line.startswith('[')]
    is_(len(steps), 1, '--only growth,milter --skip milter: one step')
    ok(steps and steps[0].startswith('[1/1] growth: ') and '--quick' in steps[0], 'growth, with --quick', out)


def load_run():
    """bench/run as a module, the way bench/gateway, milter and growth load it."""
    loader = importlib.machinery.SourceFileLoader('bench_run', os.path.join(BENCH, 'run'))
    spec = importlib.util.spec_from_loader('bench_run', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def scripts_answer():
    for name in suite.SCRIPTS:
        script = suite.SCRIPTS[name][2](1, True)[0]
        if name == 'hooks':         # no options: its argument is a message count
            continue
        r = subprocess.run([sys.executable, os.path.join(BENCH, script), '--help'], capture_output=True,
                           text=True, timeout=60)
        ok(r.returncode == 0 and '--json' in r.stdout,
           'bench/%s --help exits 0 and has --json' % script, r.stdout + r.stderr)
    run_names = set(dir(load_run()))
    for f in sorted(os.listdir(BENCH)):
        path = os.path.join(BENCH, f)
        if not os.path.isfile(path):      # __pycache__ after a run
            continue
        with open(path, 'rb') as fh:
            head = fh.read(64)
        if f != 'run' and head.startswith(b'#!/usr/bin/env python3'):
            # the scripts that load bench/run as "run" use only names it has
            with open(path) as fh:
                text = fh.read()
            if re.search(r'SourceFileLoader\("bench_run"', text):
                used = set(re.findall(r'\brun\.([A-Za-z_]\w*)', text))
                ok(used <= run_names, 'bench/%s uses only names bench/run has' % f, sorted(used - run_names))
        if f.endswith('.py') or head.startswith(b'#!/usr/bin/env python3'):
            with open(path) as fh:
                try:
                    compile(fh.read(), path, 'exec')
                    ok(True, 'bench/%s compiles' % f)
                except SyntaxError as e:
                    ok(False, 'bench/%s compiles' % f, e)


def verdicts():
    row = lambda rate, cpu: {'rate': rate, 'min': rate, 'max': rate, 'cpu': cpu, 'mem': 1}  # noqa: E731
    results = {
        'parts': {'b': 'ok', 'ctls': 'ok', 'milter': 'skipped: rspamd missing: apt-get install rspamd',
                  'gateway': 'failed: smtp-source: 421'},
        'core': {targets.SINK: {'b': row(1000, 100)},
                 targets.NOOP_C: {'b': row(700, 200)},
                 targets.NOOP_PY: {'b': row(400, 300)},
                 targets.POSTFIX: {'b': row(100, 4000), 'ctls': row(100, 8000)},
                 targets.MAILDIR: {'b': row(500, 900), 'ctls': row(250, 3000)}},
    }
    rows = {r[1]: r for r in targets.summary(results)}
    verdict = lambda words: next(r[3] for w, r in rows.items() if all(x in w for x in words))  # noqa: E731
    is_(verdict(['C no-op step >= 0.6x']), 'met', '0.70x smtp-sink against >= 0.6x: met')
    is_(rows[next(w for w in rows if 'C no-op step >= 0.6x' in w)][2], '700 / 1000 = 0.70x',
        'the figure shows both numbers and the ratio')
    is_(verdict(['C no-op: server CPU', '1.5x']), 'NOT MET', '2.0x the CPU against <= 1.5x: NOT MET')
    is_(verdict(['Python no-op step']), 'NOT MET', '0.40x against >= 0.45x: NOT MET')
    is_(verdict(['STARTTLS, new connection', '2x Postfix']), 'met', '2.5x Postfix in STARTTLS: met')
    is_(verdict(['STARTTLS: server CPU']), 'met', '0.375x the CPU: met')
    ok(verdict(['implicit TLS, new connection']).startswith('not measured'), 'no itls figures: not measured')
    is_(verdict(['durable Maildir']), 'met', 'durable Maildir 5.00x against >= 4x: met')
    is_(verdict(['milter: Postern + rspamd']), 'not measured: skipped: rspamd missing: apt-get install rspamd',
        'a skipped part says why')
    is_(verdict(['gateway']), 'not measured: failed: smtp-source: 421', 'a failed part says why')
    ok(verdict(['profile']).startswith('not measured: not run'), 'a part not chosen: not run')
    table = targets.table(targets.summary(results)).splitlines()
    is_(len(table), len(rows) + 2, 'the Markdown table has a line per row, and its header')
    ok(any('**NOT MET**' in line for line in table), 'NOT MET stands out in bold')


def noop_hook():
    """The persistent no-op step of the pipeline part answers a RCPT request
    whose size= is the client's SIZE= (no bytes follow), then a data
    request and its message."""
    feed = (b'request=smtpd_access_policy\nprotocol_state=RCPT\nsize=1234\n\n'
            b'request=postern_data\nsize=5\n\nhello'
            b'request=smtpd_access_policy\nsize=0\n\n')
    r = subprocess.run([sys.executable, os.path.join(BENCH, 'noop-policy.py')], input=feed,
                       capture_output=True, timeout=30)
    is_(r.stdout, b'action=OK\n\n' * 3, 'bench/noop-policy.py: one action=OK per request, SIZE= or not')


TAP.run(help_and_errors)
TAP.run(dry_run)
TAP.run(scripts_answer)
TAP.run(verdicts)
TAP.run(noop_hook)
sys.exit(TAP.done())
