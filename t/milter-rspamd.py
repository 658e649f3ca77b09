#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-rspamd.py - rspamd 3.x in milter proxy mode (self_scan) as a step
# of posternd's pipeline, end to end through smtplib, postern-maildir as the
# store: a message carrying GTUBE is refused at the end of DATA with
# rspamd's own reply (554 5.7.1 Gtube pattern) and is not stored; a clean
# message is stored with the headers rspamd's milter_headers module adds
# (X-Spamd-Result, X-Spam-Status, X-Rspamd-Queue-Id = our queue id), below
# our Received: field, which rspamd saw and counted; a second message in
# the same session is scanned as well.
#
# rspamd is started by the test with a configuration of its own, offline
# (t/lib/postern_milters.py says how).  Prints TAP; skips when rspamd is
# not installed.
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main, workdir  # noqa: E402
from postern_milters import GTUBE, Rspamd, missing  # noqa: E402

ok, note = TAP.ok, TAP.diag

MSG = ('From: <s@example.org>\r\nTo: <r@example.org>\r\nSubject: %s\r\n'
       'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n')


class Server(postern_test.Server):
    def __init__(self):
        d = workdir()
        t0 = time.monotonic()
        self.rspamd = Rspamd(d + '/rspamd')
        note('rspamd listening after %.1f s' % (time.monotonic() - t0))
        conf = {'milter.rspamd': {'socket': self.rspamd.socket, 'command_timeout': 30, 'content_timeout': 60},
                'smtp': {'pipeline': 'rspamd data'}}
        try:
            postern_test.Server.__init__(self, config=conf, dir=d)
        except Exception:
            self.rspamd.stop()
            raise

    def stop(self, *a, **k):
        st = postern_test.Server.stop(self, *a, **k)
        self.rspamd.stop()
        return st


def t_gtube(srv):
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=60) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        code, _ = c.rcpt('r@example.org')
        ok(code == 250, 'RCPT 250 with rspamd in the pipeline', code)
        code, msg = c.data((MSG % ('gtube', 'g1', GTUBE)).encode())
        ok(code == 554 and msg == b'5.7.1 Gtube pattern',
           "GTUBE: refused at the end of DATA with rspamd's own reply", (code, msg))
        ok(srv.message('gtube') == '' and not srv.messages(), 'the refused message is not stored')
        c.rset()
        r = c.sendmail('s@example.org', ['r@example.org'], MSG % ('clean after gtube', 'c1', 'Hello Bob,\r\n'
                                                                   'the minutes of the meeting are attached.'))
        ok(r == {} and srv.message('clean after gtube'), 'the next message of the session is stored', r)
    ok(srv.wait_log(r'milter rspamd: 554 5\.7\.1 Gtube pattern$', 5), "rspamd's refusal is logged")
    fail = re.search(r'^.*milter rspamd (\(|: edit|: cannot).*$', srv.log_text(), re.M)
    ok(not fail, 'no failure of the milter logged', fail and fail.group(0))


def t_clean(srv):
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=60) as c:
        c.ehlo('client.example')
        r = c.sendmail('s@example.org', ['r@example.org'],
                       MSG % ('a clean one', 'c2', 'Dear Alice,\r\nsee you on Monday at ten.\r\n-- \r\nBob'))
        ok(r == {}, 'a clean message: 250', r)
    text = srv.message('a clean one')
    ok(text, 'stored', srv.log_text()[-2000:])
    head = text.split('\n\n', 1)[0]
    note(head)
    res = re.search(r'^X-Spamd-Result: default: False \[(-?[\d.]+) / 15\.00\];\n((?:\t.*\n?)+)', head + '\n', re.M)
    ok(res, "rspamd's X-Spamd-Result: not spam, score below the reject threshold, its symbols folded below",
       head)
    ok(res and re.search(r'RCVD_COUNT_ONE|RCVD_NO_TLS_LAST|RCVD_COUNT_TWO', res.group(2)),
       'rspamd saw our Received: field (a RCVD_* symbol)', res and res.group(2))
    ok(re.search(r'^X-Spam-Status: No, score=-?[\d.]+$', head, re.M), 'X-Spam-Status: No, score=...', head)
    qid = re.search(r'^Received: from .*\n\tby mx\.test \(Postern\) with E?SMTP id (\S+?);?$', head, re.M)
    ok(qid and re.search(r'^X-Rspamd-Queue-Id: %s$' % re.escape(qid.group(1)), head, re.M),
       'X-Rspamd-Queue-Id is our queue id (macro i)', head)
    ok(head.index('Received:') < head.index('X-Spamd-Result:'),
       'the added headers go at the end of the header section', head)
    ok(srv.wait_log(r': milter rspamd: 3 edits applied$', 5), 'the three edits are logged')
    ok(text.endswith('\n\nDear Alice,\nsee you on Monday at ten.\n-- \nBob\n'), 'the body is unchanged', text[-200:])


def main():
    serve_tests(Server, ((t_gtube,), (t_clean,)))
    return TAP.done()


if __name__ == '__main__':
    why = missing(Rspamd)
    if why:
        sys.exit(TAP.skip_all(why))
    run_main(main)
