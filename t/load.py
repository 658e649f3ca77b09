#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# load.py - the load test: 20 concurrent smtplib clients, 50 messages each over
# one session, 8-bit bodies with BODY=8BITMIME.  Every message is accounted
# for: the 250s the clients got, the files in the Maildir's new/, and each
# Message-Id stored exactly once.  Prints TAP.
#
#   POSTERN_BUILDDIR=/work/main PYTHONPATH=t/lib python3 t/load.py
import email.parser
import email.policy
import os
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from postern_test import TAP, Server  # noqa: E402

THREADS = 20
PER_THREAD = 50
TOTAL = THREADS * PER_THREAD
DEADLINE = time.monotonic() + 150       # bounded, and roomy enough for a sanitizer build

ok = TAP.ok


def body_for(t, i):
    """A message of about 1 KiB with 8-bit bytes, CRLF line ends."""
    mid = "<load-%02d-%03d@client.test>" % (t, i)
    head = ("From: <sender%02d@example.org>\r\nTo: <rcpt@example.org>\r\n"
            "Subject: load %02d/%03d\r\nMessage-Id: %s\r\n"
            "Content-Type: text/plain; charset=iso-8859-1\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" % (t, t, i, mid)).encode("ascii")
    line = bytes(range(0xa0, 0xff)) + b" thread %02d message %03d\r\n" % (t, i)
    body = b""
    while len(head) + len(body) < 1024:
        body += line
    return mid, head + body


def main():
    srv = Server(config={"server": {"workers": 4, "max_workers": 32, "min_spare": 2,
                                    "max_spare": 8}}, wait=False)
    port, maildir = srv.port, srv.maildir
    try:
        if not ok(srv.wait_ready(), "posternd starts and listens", srv.log_text()):
            return

        results = {}     # thread -> list of (mid, code) ; code 250 or error text
        errors = []
        sent = {}
        lock = threading.Lock()

        def client(t):
            mine = []
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.ehlo("client%02d.test" % t)
                    for i in range(PER_THREAD):
                        if time.monotonic() > DEADLINE:
                            raise RuntimeError("deadline passed after %d messages" % i)
                        mid, msg = body_for(t, i)
                        with lock:
                            sent[mid] = msg
                        refused = s.sendmail("sender%02d@example.org" % t,
                                             ["rcpt@example.org"], msg,
                                             mail_options=["BODY=8BITMIME"])
                        # sendmail raises unless the end of DATA got 250.
                        mine.append((mid, 250 if not refused else refused))
                    s.quit()
            except Exception as e:      # noqa: BLE001 - everything is reported
                with lock:
                    errors.append("thread %d: %r" % (t, e))
            with lock:
                results[t] = mine

        threads = [threading.Thread(target=client, args=(t,), daemon=True)
                   for t in range(THREADS)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(0.1, DEADLINE - time.monotonic()))
        elapsed = time.monotonic() - t0
        hung = [th for th in threads if th.is_alive()]
        ok(not hung, "all %d client threads finished (%.1f s)" % (THREADS, elapsed),
           "%d threads still running" % len(hung))
        ok(not errors, "no client got an error", "\n".join(errors[:10]))
        with lock:
            accepted = sum(1 for r in results.values() for (_, c) in r if c == 250)
        ok(accepted == TOTAL, "%d messages got 250 (want %d)" % (accepted, TOTAL))

        newdir = os.path.join(maildir, "new")
        files = [os.path.join(newdir, n) for n in os.listdir(newdir)
                 if not n.startswith(".")] if os.path.isdir(newdir) else []
        ok(len(files) == TOTAL, "%d files in Maildir/new (want %d)" % (len(files), TOTAL))

        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        seen = {}
        bodies_bad = []
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            mid = parser.parsebytes(data).get("Message-Id")
            seen[mid] = seen.get(mid, 0) + 1
            want = sent.get(mid)
            if want is not None:
                # Stored: Received header prepended, LF line ends.
                wbody = want.replace(b"\r\n", b"\n")
                if not data.endswith(wbody):
                    bodies_bad.append(path)
        dup = sorted(m for m, n in seen.items() if n > 1)
        missing = sorted(m for m in sent if m not in seen)
        unknown = sorted(m for m in seen if m not in sent)
        once = sum(1 for m in sent if seen.get(m) == 1)
        ok(once == TOTAL and len(sent) == TOTAL,
           "each of the %d Message-Ids is stored exactly once (%d are)" % (TOTAL, once),
           "duplicated: %s\nmissing: %s\nunknown: %s" % (dup[:5], missing[:5], unknown[:5]))
        ok(not bodies_bad, "every stored message ends with its 8-bit text byte for byte",
           "\n".join(bodies_bad[:5]))

        # Stop: SIGTERM, exit 0 within a bounded time; no sanitizer report.
        status = srv.stop(timeout=15)
        ok(status == 0, "posternd exits 0 on SIGTERM", "status %r" % (status,))
        log = srv.log_text()
        crashes = [l for l in log.splitlines() if "died of signal" in l or "exited with status" in l]
        ok(not crashes, "no worker died during the load", "\n".join(crashes[:5]))
    finally:
        srv.stop(check=False)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:      # noqa: BLE001
        ok(False, "load test ran to the end", repr(e))
    sys.exit(TAP.done())
