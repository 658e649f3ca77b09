# SPDX-License-Identifier: ISC
"""postern_gateway - what the gateway tests share: the configuration of a
persistent step for stages mail rcpt data (postern-forward,
postern-webhook), installed where the workers' user may run it, and an SMTP
client that returns every reply instead of raising.

    conf = step_config(srv_dir, 'postern-forward', ['--lmtp', 'inet:...'], timeout=20)
    Server(config=conf)
    r = send(port, 'a@x', ['b@y'], b'Subject: ...')   # {'mail': (code, text), 'rcpt': [...], 'data': ...}
"""
import os
import smtplib
import socket
import subprocess
import tempfile

from postern_test import BUILDDIR, IS_ROOT, install_program

__all__ = ['gateway_config', 'step_config', 'legacy_step_config', 'named_steps', 'send', 'program']

_named = None


def named_steps():
    """Does this posternd have named steps ([hook.NAME] stage = ...)?"""
    global _named
    if _named is None:
        with tempfile.TemporaryDirectory() as d:
            with open(d + '/p.conf', 'w') as f:
                f.write('[server]\nhostname = x\nspool_directory = %s\n%s[hook.p]\nstage = mail rcpt data\n'
                        'command = /bin/true\npersistent = yes\n[smtp]\nlisten = 127.0.0.1:1\n'
                        % (d, 'user = nobody\ngroup = nogroup\n' if IS_ROOT else ''))
            r = subprocess.run([BUILDDIR + '/posternd', '-t', '-c', d + '/p.conf'],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            _named = r.returncode == 0
    return _named


def gateway_config(d, name, args, stages=('mail', 'rcpt', 'data'), timeout=20):
    """step_config() where named steps exist, else legacy_step_config()."""
    f = step_config if named_steps() else legacy_step_config
    return f(d, name, args, stages, timeout)


def program(d, name):
    """The built hooks/NAME copied into D (the workers run as nobody)."""
    return install_program(d, os.path.join(BUILDDIR, 'hooks', name))


def step_config(d, name, args, stages=('mail', 'rcpt', 'data'), timeout=20):
    """The configuration that makes hooks/NAME with ARGS the step for
    STAGES: a named step [hook.NAME] (one co-process that sees the whole
    transaction)."""
    cmd = ' '.join([program(d, name)] + list(args))
    return {'hook.gw': {'stage': ' '.join(stages), 'command': cmd, 'persistent': 'yes',
                        'timeout': timeout},
            'hooks': {'data': None} if 'data' in stages else {}}


def legacy_step_config(d, name, args, stages=('mail', 'rcpt', 'data'), timeout=20):
    """The same with Part-1 [hooks] keys: one co-process per stage; the
    data step then rebuilds the transaction from its request."""
    cmd = ' '.join([program(d, name)] + list(args))
    hooks = {k: cmd for k in stages}
    hooks.update(persistent=' '.join(stages), timeout=timeout, data_timeout=timeout)
    return {'hooks': hooks}


def send(port, sender, rcpts, msg, timeout=60, helo='client.example', **kw):
    """One transaction with smtplib: the replies as (code, text) for mail,
    each rcpt, and data (None for a stage not reached)."""
    out = {'mail': None, 'rcpt': [], 'data': None}
    s = smtplib.SMTP('127.0.0.1', port, timeout=timeout, local_hostname=helo)
    try:
        s.ehlo()
        out['mail'] = s.mail(sender, kw.get('mail_options', []))
        if out['mail'][0] != 250:
            return out
        for r in rcpts:
            out['rcpt'].append(s.rcpt(r, kw.get('rcpt_options', [])))
        if not any(c == 250 for c, _ in out['rcpt']):
            return out
        out['data'] = s.data(msg)
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        if out['data'] is None and isinstance(e, smtplib.SMTPDataError):
            out['data'] = (e.smtp_code, e.smtp_error)
        elif out['data'] is None:
            out['data'] = (0, str(e).encode())
    finally:
        try:
            s.close()
        except (OSError, socket.error):
            pass
    return out
