#!/usr/bin/env python3
# load.py - the load test: 20 concurrent smtplib clients, 50 messages each over
# one session, 8-bit bodies with BODY=8BITMIME.  Every message is accounted
# for: the 250s the clients got, the files in the Maildir's new/, and each
# Message-Id stored exactly once.  Prints TAP.
#
#   POSTERN_BUILDDIR=/work/main PYTHONPATH=t/lib python3 t/load.py
import email.parser
import email.policy
import os
import pwd
import grp
import shutil
import signal
import smtplib
import socket
import sys
import tempfile
import threading
import time

BUILDDIR = os.environ.get("POSTERN_BUILDDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
THREADS = 20
PER_THREAD = 50
TOTAL = THREADS * PER_THREAD
DEADLINE = time.monotonic() + 150       # bounded, and roomy enough for a sanitizer build

_n = 0
_failed = 0


def ok(cond, name, diag=None):
    global _n, _failed
    _n += 1
    if cond:
        print("ok %d - %s" % (_n, name))
    else:
        _failed += 1
        print("not ok %d - %s" % (_n, name))
        if diag:
            for line in str(diag).splitlines():
                print("# " + line)
    sys.stdout.flush()
    return cond


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workdir():
    d = tempfile.mkdtemp(prefix="postern-load-")
    os.chmod(d, 0o755)
    if os.geteuid() == 0:
        os.chown(d, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    return d


def wait_ready(proc_pid, port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pid, _ = os.waitpid(proc_pid, os.WNOHANG)
        if pid == proc_pid:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


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
    dirpath = workdir()
    port = free_port()
    hook = os.path.join(dirpath, "postern-maildir")
    shutil.copy(os.path.join(BUILDDIR, "hooks", "postern-maildir"), hook)
    os.chmod(hook, 0o755)
    maildir = os.path.join(dirpath, "Maildir")
    user = "user = nobody\ngroup = nogroup\n" if os.geteuid() == 0 else ""
    conf = os.path.join(dirpath, "postern.conf")
    with open(conf, "w") as f:
        f.write("[server]\nhostname = mx.test\n%spidfile = %s/posternd.pid\n"
                "spool_directory = %s\nworkers = 4\nmax_workers = 32\n"
                "min_spare = 2\nmax_spare = 8\n\n"
                "[hooks]\ndata = %s %s\n\n[smtp]\nlisten = 127.0.0.1:%d\n"
                % (user, dirpath, dirpath, hook, maildir, port))
    logpath = os.path.join(dirpath, "posternd.log")
    logf = open(logpath, "ab")
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open("/dev/null", os.O_RDONLY)
            os.dup2(fd, 0)
            os.dup2(logf.fileno(), 1)
            os.dup2(logf.fileno(), 2)
            os.execv(os.path.join(BUILDDIR, "posternd"),
                     ["posternd", "-f", "-d", "-c", conf])
        finally:
            os._exit(127)
    logf.close()
    status = None
    try:
        if not ok(wait_ready(pid, port), "posternd starts and listens",
                  open(logpath, errors="replace").read()):
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

        # Stop: SIGTERM, exit 0 within a bounded time.
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            r, st = os.waitpid(pid, os.WNOHANG)
            if r == pid:
                status = st
                break
            time.sleep(0.02)
        ok(status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
           "posternd exits 0 on SIGTERM", "status %r" % (status,))
        log = open(logpath, errors="replace").read()
        bad = [l for l in log.splitlines()
               if "AddressSanitizer" in l or "runtime error" in l or "LeakSanitizer" in l]
        ok(not bad, "no sanitizer report in the server log", "\n".join(bad[:5]))
        crashes = [l for l in log.splitlines() if "died of signal" in l or "exited with status" in l]
        ok(not crashes, "no worker died during the load", "\n".join(crashes[:5]))
    finally:
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        shutil.rmtree(dirpath, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:      # noqa: BLE001
        ok(False, "load test ran to the end", repr(e))
    print("1..%d" % _n)
    sys.exit(1 if _failed else 0)
