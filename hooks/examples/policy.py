#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# policy.py - a persistent mail/rcpt hook: greylisting and a sender-domain deny list.
#
# The Postfix policy delegation protocol, as Postern speaks it to persistent hooks:
#  1. Postern starts this program once per worker and keeps it; stdin and stdout
#     are one connection on which requests come one after the other.
#  2. A request is lines "name=value" (request=smtpd_access_policy, protocol_state,
#     client_address, helo_name, sender, recipient, size, postern_session, ...)
#     ended by an empty line.  Names may repeat; values are raw bytes, no quoting.
#  3. The answer is "action=..." and an empty line: OK or DUNNO (accept),
#     REJECT text (550), DEFER text or DEFER_IF_PERMIT text (450), or
#     "4NN text" / "5NN text"; a text may begin with an enhanced status code.
#  4. Flush after every answer; at end of input, exit.  An answer that is late
#     (past the hook's timeout), missing or garbled gets this process restarted.
#
# Usage, in postern.conf:
#   [hooks]
#   mail = /usr/share/doc/postern/examples/policy.py 60 /etc/postern/deny-domains
#   rcpt = /usr/share/doc/postern/examples/policy.py 60 /etc/postern/deny-domains
#   persistent = mail rcpt
#
# argv[1]: the greylisting delay in seconds (default 60): the first time a
#   (client_address, sender, recipient) triple is seen it is deferred; the
#   same triple seen again at least that long after is accepted.
# argv[2]: optional file of sender domains to refuse, one per line, "#"
#   comments; matched case-insensitively, exactly (no sub-domains).
# The greylist is kept in memory, so each worker has its own: a retry that
# lands on another worker is deferred again.  For a list shared by all
# workers and kept across restarts, run postgrey and use rcpt = inet:...
import os
import sys
import time

MAX_AGE = 86400 * 2     # forget triples not seen for two days
MAX_ENTRIES = 200000    # and never keep more than this many


def log(msg):
    # stderr goes to Postern's log, tagged with the hook name
    sys.stderr.write("policy.py: %s\n" % msg)
    sys.stderr.flush()


def load_denied(path):
    denied = set()
    if not path:
        return denied
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.split("#", 1)[0].strip().lower()
                if line.startswith("@"):
                    line = line[1:]
                if line:
                    denied.add(line)
    except OSError as e:
        log("cannot read the deny list %s: %s" % (path, e))
    return denied


def read_request(inp):
    """Attributes of one request, or None at end of input."""
    attrs = {}
    while True:
        line = inp.readline()
        if not line:
            return None
        line = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
        if line == "":
            return attrs
        name, eq, value = line.partition("=")
        if eq and name and name not in attrs:
            attrs[name] = value


def main():
    try:
        delay = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    except ValueError:
        log("the delay %r is not a number: using 60" % sys.argv[1])
        delay = 60.0
    denied = load_denied(sys.argv[2] if len(sys.argv) > 2 else None)
    first_seen = {}     # triple -> (first time, last time)
    inp = sys.stdin.buffer
    out = sys.stdout.buffer

    while True:
        attrs = read_request(inp)
        if attrs is None:
            return 0
        action = decide(attrs, denied, first_seen, delay)
        out.write(("action=%s\n\n" % action).encode("ascii", errors="replace"))
        out.flush()


def decide(attrs, denied, first_seen, delay):
    if attrs.get("request") != "smtpd_access_policy":
        return "DUNNO"
    state = attrs.get("protocol_state", "").upper()
    if state not in ("MAIL", "RCPT"):
        return "DUNNO"
    sender = attrs.get("sender", "")
    domain = sender.rpartition("@")[2].lower() if "@" in sender else ""
    if domain and domain in denied:
        return "REJECT 5.7.1 sender domain refused"
    if state != "RCPT":
        return "DUNNO"
    triple = (attrs.get("client_address", ""), sender.lower(), attrs.get("recipient", "").lower())
    now = time.monotonic()
    if len(first_seen) > MAX_ENTRIES:
        for k in [k for k, (_, last) in first_seen.items() if now - last > MAX_AGE]:
            del first_seen[k]
        if len(first_seen) > MAX_ENTRIES:
            first_seen.clear()
    seen = first_seen.get(triple)
    if seen is None:
        first_seen[triple] = (now, now)
        return "DEFER_IF_PERMIT 4.2.0 Greylisted, try again later"
    first, _ = seen
    first_seen[triple] = (first, now)
    if now - first >= delay:
        return "DUNNO"
    return "DEFER_IF_PERMIT 4.2.0 Greylisted, try again later"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(0)
