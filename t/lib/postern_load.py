#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""postern_load - an SMTP load driver that accounts for every message.

    from postern_load import run_load
    r = run_load("127.0.0.1", port, clients=20, seconds=8, maildir=DIR)
    r["lost"]       # accepted (250) but not in DIR/new: must be empty

Each of CLIENTS threads opens one SMTP session (raw sockets, PIPELINING of
MAIL/RCPT/DATA) and sends messages over it until SECONDS have passed or
MESSAGES (in all, across the clients) have been started, reconnecting after
any connection error.  Every message carries a unique Message-Id and ends
with the line "END-OF-MESSAGE <id>", so a stored file can be matched to its
attempt and checked for completeness.

Each attempt ends in exactly one outcome:
    accepted        250 after the final dot
    rejected        a 4xx/5xx reply after the final dot
    unacknowledged  the text and the dot were sent, then the connection died
                    (EOF, reset or timeout) before any reply came
    failed          an error before the text was fully sent (connect refused,
                    a 4xx/5xx greeting, MAIL/RCPT/DATA refused, a connection
                    error while sending)
so that attempts == accepted + errors, where errors = rejected +
unacknowledged + failed, and sent == accepted + rejected + unacknowledged.
Every error is counted by reason ("stage: code or exception").

With MAILDIR, the files in MAILDIR/new (and cur) are read back: stored is
the number of this run's Message-Ids found; duplicates the extra copies;
lost the accepted ids not stored (a lost message); unack_stored the ids
stored after the connection died past the final dot (allowed: the client
must retry and may deliver twice); bad_stored ids stored although the client
was told no, or never sent the whole text (a bug); incomplete the stored
files whose size is not their ",S=" or that lack the end marker.

Command line (bench/ uses it at large sizes):

    python3 t/lib/postern_load.py --port P --clients N --seconds T \\
        [--messages M] [--size BYTES] [--maildir DIR] [--json]

Python 3 standard library only.  Loopback or the project's own test hosts
only: the loops are bounded by SECONDS/MESSAGES and per-operation timeouts.
"""
import argparse
import collections
import errno as _errno
import json
import os
import random
import re
import socket
import sys
import threading
import time

__all__ = ["run_load", "scan_maildir", "account", "format_report", "make_message"]

END_MARKER = b"END-OF-MESSAGE "


class _ConnError(Exception):
    """The connection is unusable (EOF, reset, timeout): reconnect."""

    def __init__(self, reason):
        Exception.__init__(self, reason)
        self.reason = reason


def _exc_reason(e):
    if isinstance(e, _ConnError):
        return e.reason
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno is not None:
        return _errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


class _Session:
    """A raw SMTP client on one connection."""

    def __init__(self, host, port, timeout, helo):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.helo = helo

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise _ConnError("timeout")
            except OSError as e:
                raise _ConnError(_exc_reason(e))
            if not chunk:
                raise _ConnError("EOF")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        """(code, text of the last line) of one whole reply."""
        while True:
            line = self._line()
            if len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3:4] in (b" ", b"-")):
                if line[3:4] != b"-":
                    return int(line[:3]), line.decode("ascii", "replace")
            else:
                raise _ConnError("garbled reply")

    def send(self, data):
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise _ConnError("timeout")
        except OSError as e:
            raise _ConnError(_exc_reason(e))


def _stuff(text):
    """Dot-stuff CRLF text (RFC 5321 4.5.2)."""
    if text.startswith(b"."):
        text = b"." + text
    return text.replace(b"\r\n.", b"\r\n..")


def make_message(mid, size, filler=None):
    """A message of about SIZE bytes (CRLF line ends), identified by MID
    ("<...>"), ending with the line END-OF-MESSAGE MID."""
    head = ("From: <load@client.test>\r\nTo: <rcpt@example.org>\r\n"
            "Subject: postern load %s\r\nMessage-Id: %s\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n" % (mid, mid)).encode("ascii")
    tail = END_MARKER + mid.encode("ascii") + b"\r\n"
    room = size - len(head) - len(tail)
    if room <= 0:
        return head + tail
    if filler is None:
        filler = _filler(room)
    return head + filler[:room] + tail if len(filler) >= room else head + _filler(room) + tail


def _filler(n):
    """N bytes of text lines of 76 characters (and a short last line)."""
    line = (b"postern load filler text 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKL" + b"\r\n")
    reps = n // len(line) + 1
    body = (line * reps)[:n]
    if n >= 2:
        body = body[:-2] + b"\r\n"
    return body


def _new_run_id():
    return "%x%04x" % (int(time.time()), random.getrandbits(16))


def run_load(host, port, clients, seconds=None, messages=None, size=1024, maildir=None,
             timeout=30, stop=None, per_session=None, mail_from="load@client.test",
             rcpts=("rcpt@example.org",), settle=None, run_id=None, connect_backoff=0.05,
             body_8bit=False):
    """Drive CLIENTS concurrent SMTP clients; return the accounting (a dict).

    seconds      stop starting messages after this many seconds
    messages     stop after this many messages in all (across the clients)
    size         bytes of each message (headers and end marker included)
    maildir      read back MAILDIR/new afterwards and compare (see account())
    timeout      the bound of every socket operation (connect, send, reply)
    stop         a threading.Event: set it to stop the clients early
    per_session  QUIT and reconnect after this many messages (None: never)
    mail_from, rcpts  the envelope (a rcpt that is refused makes a failed attempt)
    settle       seconds to wait before reading the Maildir back (default: 1
                 when some messages were unacknowledged, as a hook of a
                 killed worker may still be running; else 0)
    At least one of seconds, messages or stop must be given.
    """
    if seconds is None and messages is None and stop is None:
        raise ValueError("run_load: give seconds, messages or stop")
    run_id = run_id or _new_run_id()
    lock = threading.Lock()
    started = [0]
    stop = stop or threading.Event()
    t0 = time.monotonic()
    end = t0 + seconds if seconds is not None else None
    filler = _filler(max(size, 0))
    outcomes = {}           # mid -> (outcome, reason, latency of the last step)
    order = []              # mids in the order their outcome was known
    reasons = collections.Counter()
    connections = [0]
    connect_errors = [0]
    client_errors = []      # exceptions inside the driver itself (bugs of ours)
    max_reply_latency = [0.0]
    helo = "load.client.test"

    def claim():
        with lock:
            if stop.is_set():
                return None
            if end is not None and time.monotonic() >= end:
                return None
            if messages is not None and started[0] >= messages:
                return None
            started[0] += 1
            return started[0]

    def record(mid, outcome, reason, latency):
        with lock:
            outcomes[mid] = (outcome, reason, latency)
            order.append(mid)
            if outcome != "accepted":
                reasons["%s %s" % (outcome, reason)] += 1
            if latency > max_reply_latency[0]:
                max_reply_latency[0] = latency

    def client(cn):
        sess = None
        in_session = 0
        seq = 0
        try:
            while True:
                n = claim()
                if n is None:
                    break
                seq += 1
                mid = "<%s.%d.%d@postern-load.test>" % (run_id, cn, seq)
                stage = "connect"
                sent = False
                t_dot = None
                try:
                    if sess is None:
                        try:
                            sess = _Session(host, port, timeout, helo)
                        except OSError as e:
                            with lock:
                                connect_errors[0] += 1
                            raise _ConnError(_exc_reason(e))
                        with lock:
                            connections[0] += 1
                        in_session = 0
                        stage = "greeting"
                        code, text = sess.reply()
                        if code != 220:
                            raise _Refused(code, text)
                        stage = "EHLO"
                        sess.send(b"EHLO " + helo.encode() + b"\r\n")
                        code, text = sess.reply()
                        if code != 250:
                            raise _Refused(code, text)
                    stage = "MAIL"
                    cmds = b"MAIL FROM:<" + mail_from.encode() + b">" + \
                        (b" BODY=8BITMIME" if body_8bit else b"") + b"\r\n"
                    for r in rcpts:
                        cmds += b"RCPT TO:<" + r.encode() + b">\r\n"
                    cmds += b"DATA\r\n"
                    sess.send(cmds)
                    first_bad = None
                    for stage in ["MAIL"] + ["RCPT"] * len(rcpts) + ["DATA"]:
                        code, text = sess.reply()
                        if code == 421:         # the server closes now
                            raise _Refused(code, text)
                        if first_bad is None and code != (354 if stage == "DATA" else 250):
                            first_bad = (stage, code, text)
                    if code != 354:
                        if first_bad is None:
                            first_bad = ("DATA", code, text)
                        stage, code, text = first_bad
                        raise _Refused(code, text)
                    stage = "text"
                    msg = make_message(mid, size, filler)
                    sess.send(_stuff(msg) + b".\r\n")
                    sent = True
                    t_dot = time.monotonic()
                    stage = "after dot"
                    code, text = sess.reply()
                    latency = time.monotonic() - t_dot
                    if code == 250:
                        record(mid, "accepted", "250", latency)
                    else:
                        record(mid, "rejected", "%d %s" % (code, text[4:9].strip()), latency)
                        if code == 421:
                            sess.close()
                            sess = None
                            continue
                    in_session += 1
                    if per_session is not None and in_session >= per_session:
                        try:
                            sess.send(b"QUIT\r\n")
                            sess.reply()
                        except _ConnError:
                            pass
                        sess.close()
                        sess = None
                except _Refused as e:
                    record(mid, "failed", "%s: %d %s" % (stage, e.code, e.text[4:9].strip()),
                           0.0)
                    if e.code == 421 or stage in ("greeting", "EHLO"):
                        sess.close()
                        sess = None
                        if connect_backoff:
                            stop.wait(connect_backoff)
                    else:
                        try:
                            sess.send(b"RSET\r\n")
                            code, _ = sess.reply()
                            if code != 250:
                                raise _ConnError("RSET %d" % code)
                        except _ConnError:
                            sess.close()
                            sess = None
                except _ConnError as e:
                    if sent:
                        record(mid, "unacknowledged", e.reason,
                               time.monotonic() - t_dot if t_dot else 0.0)
                    else:
                        record(mid, "failed", "%s: %s" % (stage, e.reason), 0.0)
                    if sess is not None:
                        sess.close()
                        sess = None
                    if connect_backoff:
                        stop.wait(connect_backoff)     # a refused connect must not spin
            if sess is not None:
                try:
                    sess.send(b"QUIT\r\n")
                    sess.reply()
                except _ConnError:
                    pass
        except Exception as e:          # noqa: BLE001 - reported, not raised
            with lock:
                client_errors.append("client %d: %r" % (cn, e))
        finally:
            if sess is not None:
                sess.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True, name="load-%d" % i)
               for i in range(clients)]
    for th in threads:
        th.start()
    # Every client finishes its current message within a few timeouts.
    join_deadline = (end if end is not None else time.monotonic() + 86400) + 3 * timeout + 5
    for th in threads:
        while th.is_alive():
            left = join_deadline - time.monotonic()
            if left <= 0:
                break
            th.join(min(left, 1.0))
    elapsed = time.monotonic() - t0
    hung = sum(1 for th in threads if th.is_alive())
    if hung:
        stop.set()

    with lock:
        counts = collections.Counter(o for (o, _, _) in outcomes.values())
        result = {
            "run_id": run_id,
            "clients": clients,
            "elapsed": elapsed,
            "size": size,
            "started": started[0],
            "attempts": len(outcomes),
            "sent": counts["accepted"] + counts["rejected"] + counts["unacknowledged"],
            "accepted": counts["accepted"],
            "rejected": counts["rejected"],
            "unacknowledged": counts["unacknowledged"],
            "failed": counts["failed"],
            "errors": counts["rejected"] + counts["unacknowledged"] + counts["failed"],
            "reasons": dict(reasons),
            "connections": connections[0],
            "connect_errors": connect_errors[0],
            "hung_clients": hung,
            "client_errors": list(client_errors),
            "max_reply_latency": max_reply_latency[0],
            "outcomes": dict(outcomes),
            "order": list(order),
        }
    if maildir is not None:
        if settle is None:
            settle = 1.0 if result["unacknowledged"] else 0.0
        if settle:
            time.sleep(settle)
        account(result, maildir)
    return result


class _Refused(Exception):
    def __init__(self, code, text):
        Exception.__init__(self, "%d %s" % (code, text))
        self.code = code
        self.text = text


_MID_RE = re.compile(rb"^Message-Id:[ \t]*(<[^>\r\n]*>)", re.I | re.M)
_SIZE_RE = re.compile(r",S=(\d+)")


def scan_maildir(maildir, run_id=None):
    """Read MAILDIR/new and MAILDIR/cur back.  Returns a dict:
    ids       {message-id: [paths]} (only this run's ids when RUN_ID is given)
    foreign   files whose Message-Id is not this run's (or has none)
    incomplete  [(path, why)]: the ",S=" size is not the file's size, or the
              last line is not the end marker of its own Message-Id
    files     the number of files read
    tmp       the files left in MAILDIR/tmp"""
    ids = collections.defaultdict(list)
    foreign = 0
    incomplete = []
    nfiles = 0
    prefix = ("<%s." % run_id).encode() if run_id else None
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(d, name)
            try:
                with open(path, "rb") as f:
                    head = f.read(65536)
                    fsize = os.fstat(f.fileno()).st_size
                    if fsize > len(head):
                        f.seek(max(fsize - 4096, 0))
                        tail = f.read()
                    else:
                        tail = head
            except OSError as e:
                incomplete.append((path, "unreadable: %s" % e))
                continue
            nfiles += 1
            hdr_end = head.find(b"\n\n")
            m = _MID_RE.search(head if hdr_end < 0 else head[:hdr_end + 1])
            mid = m.group(1) if m else None
            if mid is None or (prefix is not None and not mid.startswith(prefix)):
                foreign += 1
                continue
            ids[mid.decode("ascii", "replace")].append(path)
            s = _SIZE_RE.search(name)
            if s is None:
                incomplete.append((path, "no ,S= in the name"))
            elif int(s.group(1)) != fsize:
                incomplete.append((path, "S=%s but the file has %d bytes" % (s.group(1), fsize)))
            want = END_MARKER + mid + b"\n"
            if not (tail.endswith(want) or tail.endswith(want[:-1] + b"\r\n")):
                incomplete.append((path, "no end marker (truncated?)"))
    try:
        tmp = len([n for n in os.listdir(os.path.join(maildir, "tmp")) if not n.startswith(".")])
    except OSError:
        tmp = 0
    return {"ids": dict(ids), "foreign": foreign, "incomplete": incomplete,
            "files": nfiles, "tmp": tmp}


def account(result, maildir):
    """Compare RESULT (from run_load) with what MAILDIR holds; adds to RESULT:
    stored, stored_files, duplicates, lost, unack_stored, bad_stored,
    incomplete, foreign, tmp_files.  Returns RESULT."""
    scan = scan_maildir(maildir, result["run_id"])
    ids = scan["ids"]
    out = result["outcomes"]
    accepted = {m for m, (o, _, _) in out.items() if o == "accepted"}
    unack = {m for m, (o, _, _) in out.items() if o == "unacknowledged"}
    stored = set(ids)
    result.update({
        "maildir": maildir,
        "stored": len(stored),
        "stored_files": sum(len(p) for p in ids.values()),
        "duplicates": sum(len(p) - 1 for p in ids.values() if len(p) > 1),
        "duplicate_ids": sorted(m for m, p in ids.items() if len(p) > 1),
        "lost": sorted(accepted - stored),
        "unack_stored": sorted(stored & unack),
        "bad_stored": sorted(m for m in stored - accepted - unack),
        "incomplete": scan["incomplete"],
        "foreign": scan["foreign"],
        "tmp_files": scan["tmp"],
    })
    return result


def format_report(r):
    """The figures of a run, one per line."""
    lines = [
        "run %s: %d clients, %.1f s, %d-byte messages" % (r["run_id"], r["clients"], r["elapsed"], r["size"]),
        "attempts %d  sent %d  accepted %d  rejected %d  unacknowledged %d  failed %d  (errors %d)" % (
            r["attempts"], r["sent"], r["accepted"], r["rejected"], r["unacknowledged"], r["failed"],
            r["errors"]),
        "connections %d  connect errors %d  hung clients %d  slowest final reply %.2f s  rate %.1f msg/s" % (
            r["connections"], r["connect_errors"], r["hung_clients"], r["max_reply_latency"],
            r["accepted"] / r["elapsed"] if r["elapsed"] > 0 else 0.0),
    ]
    for reason, n in sorted(r["reasons"].items(), key=lambda x: -x[1]):
        lines.append("  %6d  %s" % (n, reason))
    for e in r["client_errors"][:5]:
        lines.append("driver error: %s" % e)
    if "stored" in r:
        lines.append("stored %d (files %d, duplicates %d)  lost %d  unacknowledged but stored %d  "
                     "stored but refused/unsent %d  incomplete %d  tmp %d  foreign %d" % (
                         r["stored"], r["stored_files"], r["duplicates"], len(r["lost"]),
                         len(r["unack_stored"]), len(r["bad_stored"]), len(r["incomplete"]),
                         r["tmp_files"], r["foreign"]))
        for m in r["lost"][:5]:
            lines.append("  lost: %s" % m)
        for m in r["bad_stored"][:5]:
            lines.append("  stored but refused/unsent: %s (%s)" % (m, r["outcomes"].get(m)))
        for p, why in r["incomplete"][:5]:
            lines.append("  incomplete: %s: %s" % (p, why))
    return "\n".join(lines)


def _summary(r):
    """RESULT without the per-message tables (for --json)."""
    return {k: v for k, v in r.items() if k not in ("outcomes", "order")}


def main(argv=None):
    ap = argparse.ArgumentParser(description="SMTP load with per-message accounting (loopback use).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--messages", type=int, help="messages in all, across the clients")
    ap.add_argument("--size", type=int, default=1024, help="bytes per message (default 1024)")
    ap.add_argument("--maildir", help="read the Maildir back and account for every message")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--per-session", type=int, help="messages per connection (default: all)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    if a.seconds is None and a.messages is None:
        ap.error("give --seconds or --messages")
    r = run_load(a.host, a.port, a.clients, seconds=a.seconds, messages=a.messages, size=a.size,
                 maildir=a.maildir, timeout=a.timeout, per_session=a.per_session)
    if a.json:
        print(json.dumps(_summary(r), indent=1, sort_keys=True, default=list))
    else:
        print(format_report(r))
    bad = r["hung_clients"] or r["client_errors"] or (
        "stored" in r and (r["lost"] or r["bad_stored"] or r["incomplete"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
