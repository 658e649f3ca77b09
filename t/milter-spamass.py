#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# milter-spamass.py - spamass-milter in front of a private spamd (local
# tests only) as a step of posternd's pipeline, end to end through
# smtplib, postern-maildir as the store, with spamass-milter -r 15:
#   - GTUBE (score 1000) is refused at the end of DATA with
#     spamass-milter's reply, 550 5.7.1 Blocked by SpamAssassin, and not
#     stored;
#   - a message that scores between 5 and 15 (a rule of the test's own) is
#     stored tagged as SpamAssassin tags it: X-Spam-Flag: YES, the Subject
#     rewritten, the body replaced by SpamAssassin's report with the
#     original attached (report_safe 1) - the milter's change-header and
#     replace-body edits, through Postern, into the store;
#   - a clean message is stored with X-Spam-Status: No and its body as
#     sent.
#
# Offline (t/lib/postern_milters.py: spamd -L, no DNS, no sa-update).
# Prints TAP; skips when spamd or spamass-milter is not installed.
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import postern_test  # noqa: E402
from postern_test import TAP, serve_tests, run_main, workdir  # noqa: E402
from postern_milters import GTUBE, SpamAssassin, missing  # noqa: E402

ok, note = TAP.ok, TAP.diag

MSG = ('From: <s@example.org>\r\nTo: <r@example.org>\r\nSubject: %s\r\n'
       'Date: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n')
RULES = ('body POSTERN_TEST_SPAM /\\bpostern-test-spam\\b/\nscore POSTERN_TEST_SPAM 8\n'
         'describe POSTERN_TEST_SPAM The test says this is spam\n'
         'rewrite_header Subject [SPAM]\nreport_safe 1\n')


class Server(postern_test.Server):
    def __init__(self):
        d = workdir()
        t0 = time.monotonic()
        self.sa = SpamAssassin(d + '/spamassassin', reject=15, rules=RULES)
        note('spamd and spamass-milter listening after %.1f s' % (time.monotonic() - t0))
        conf = {'milter.spamassassin': {'socket': self.sa.socket, 'content_timeout': 120},
                'smtp': {'pipeline': 'spamassassin data'}}
        try:
            postern_test.Server.__init__(self, config=conf, dir=d)
        except Exception:
            self.sa.stop()
            raise

    def stop(self, *a, **k):
        st = postern_test.Server.stop(self, *a, **k)
        self.sa.stop()
        return st


def t_spamass(srv):
    with smtplib.SMTP('127.0.0.1', srv.port, timeout=120) as c:
        c.ehlo('client.example')
        c.mail('s@example.org')
        c.rcpt('r@example.org')
        code, msg = c.data((MSG % ('gtube', 'g1', GTUBE)).encode())
        ok(code == 550 and msg == b'5.7.1 Blocked by SpamAssassin',
           "GTUBE: refused at the end of DATA with spamass-milter's reply", (code, msg))
        ok(not srv.messages(), 'not stored')
        c.rset()
        r = c.sendmail('s@example.org', ['r@example.org'],
                       MSG % ('offer', 's1', 'Hello,\r\nthis is postern-test-spam, buy now.'))
        ok(r == {}, 'a message scoring 8 (between 5 and 15): 250', r)
        r = c.sendmail('s@example.org', ['r@example.org'],
                       MSG % ('minutes', 'c1', 'Hello Bob,\r\nthe minutes are below.\r\nAlice'))
        ok(r == {}, 'a clean message: 250', r)
    spam = srv.message(r'[SPAM] offer')
    head, _, body = spam.partition('\n\n')
    note(head)
    ok(spam, 'the spam is stored with its Subject rewritten ([SPAM] offer)',
       '\n'.join(open(p, errors='replace').read()[:600] for p in srv.messages()))
    ok(re.search(r'^X-Spam-Flag: YES$', head, re.M) and
       re.search(r'^X-Spam-Status: Yes, score=\d+\.\d required=5\.0 tests=[^\n]*POSTERN_TEST_SPAM', head, re.M),
       'X-Spam-Flag: YES, X-Spam-Status: Yes with the rule', head)
    ok(re.search(r'^Content-Type: multipart/mixed; boundary=', head, re.M),
       'Content-Type changed to multipart/mixed (report_safe)', head)
    ok('Content analysis details:' in body and 'POSTERN_TEST_SPAM' in body and
       re.search(r'Content-Type: message/rfc822;[^\n]*\n(.*\n)*?\nHello,\nthis is postern-test-spam, buy now\.\n', body),
       'the body replaced: the report, the original attached as message/rfc822', body[:3000])
    ok(head.startswith('Received: from client.example'), 'our Received: field still first', head[:200])
    clean = srv.message('minutes')
    chead, _, cbody = clean.partition('\n\n')
    ok(re.search(r'^X-Spam-Status: No, score=-?\d+\.\d required=5\.0', chead, re.M) and
       'X-Spam-Flag' not in chead, 'the clean message: X-Spam-Status: No', chead)
    ok(cbody == 'Hello Bob,\nthe minutes are below.\nAlice\n', 'and its body as sent', cbody)
    ok(srv.wait_log(r'milter spamassassin: 550 5\.7\.1 Blocked by SpamAssassin$', 5), 'the refusal is logged')
    fail = re.search(r'^.*milter spamassassin (\(|: edit|: cannot).*$', srv.log_text(), re.M)
    ok(not fail, 'no failure of the milter logged', fail and fail.group(0))


def main():
    serve_tests(Server, ((t_spamass,),))
    return TAP.done()


if __name__ == '__main__':
    why = missing(SpamAssassin)
    if why:
        sys.exit(TAP.skip_all(why))
    run_main(main)
