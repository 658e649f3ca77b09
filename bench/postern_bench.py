# SPDX-License-Identifier: ISC
"""postern_bench - start a private posternd for a benchmark (loopback only).

Shared by the scripts in bench/: a temporary directory (usable by the
workers' user when run as root), a certificate made with certtool, a config
with the endpoints asked for on free ports, and the server stopped by PID.
"""
import os
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILDDIR = os.environ.get("POSTERN_BUILDDIR",
                          os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))


def run_matplotlib(code, arg):
    """Run CODE (Python that draws with matplotlib, reading its argument
    as JSON from sys.argv[1]) with a python3 that has Debian's matplotlib:
    the one running this script, or /usr/bin/python3 (pyenv's python3 may
    come first on PATH).  True if it ran."""
    text = json.dumps(arg)
    for py in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([py, "-c", code, text], stderr=subprocess.DEVNULL).returncode == 0:
            return True
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, endpoints, workers=2, extra="", data_hook=None, persistent=False,
                 max_workers=256, debug=False, files=None, hooks_extra="", key_type="ecdsa",
                 server_extra="reverse_lookup = no", wrapper=None):
        self.dir = tempfile.mkdtemp(prefix="postern-bench-")
        os.chmod(self.dir, 0o755)
        self.maildir = os.path.join(self.dir, "Maildir")
        root = os.geteuid() == 0
        hook = os.path.join(self.dir, "postern-maildir")
        shutil.copy(os.path.join(BUILDDIR, "hooks", "postern-maildir"), hook)
        os.chmod(hook, 0o755)
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        with open(os.path.join(self.dir, "tmpl"), "w") as f:
            f.write("cn = localhost\nip_address = 127.0.0.1\nexpiration_days = 30\n"
                    "tls_www_server\nsigning_key\n")
        subprocess.run(["certtool", "--generate-privkey", f"--key-type={key_type}", "--outfile", key],
                       check=True, capture_output=True)
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key,
                        "--template", os.path.join(self.dir, "tmpl"), "--outfile", cert],
                       check=True, capture_output=True)
        self.ports = {name: free_port() for name in endpoints}
        data_hook = data_hook.replace("@DIR@", self.dir) if data_hook else None
        conf = ["[server]", "hostname = bench.test", "pidfile =", f"workers = {workers}",
                "min_spare = 1", f"max_spare = {max(workers, 1)}", f"max_workers = {max_workers}",
                f"spool_directory = {self.dir}", server_extra]   # no DNS unless asked
        if root:
            conf += ["user = nobody", "group = nogroup"]
        conf += ["[limits]", "max_connections_per_client = 0"]
        conf += ["[tls]", f"certificate = {cert}", f"key = {key}", "[hooks]",
                 f"data = {data_hook or hook + ' ' + os.path.join(self.dir, 'Maildir')}"]
        if persistent:
            conf.append("persistent = data")
        if hooks_extra:
            conf.append(hooks_extra.replace("@DIR@", self.dir))
        for name, mode in endpoints.items():
            conf += [f"[{name}]", f"listen = 127.0.0.1:{self.ports[name]}", f"tls = {mode}"]
        conf.append(extra)
        self.conf = os.path.join(self.dir, "postern.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        for name, text in (files or {}).items():
            path = os.path.join(self.dir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        here = os.path.dirname(os.path.abspath(__file__))
        for name in ("noop-policy.py",):
            shutil.copy(os.path.join(here, name), os.path.join(self.dir, name))
        subprocess.run(["cc", "-O2", "-o", os.path.join(self.dir, "noop-policy"),
                        os.path.join(here, "noop-policy.c")], check=True)
        if root:
            subprocess.run(["chown", "-R", "nobody:nogroup", self.dir], check=True)
            os.chown(key, 0, 0)
        self.log = open(os.path.join(self.dir, "posternd.log"), "w")
        self.proc = subprocess.Popen((wrapper or []) + [os.path.join(BUILDDIR, "posternd"), "-f", "-c", self.conf] +
                                     (["-d"] if debug else []),
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + (120 if wrapper else 20)
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        with open(self.log.name) as f:
                            why = f.read()[-2000:]
                        self.stop()
                        raise RuntimeError("posternd did not start:\n" + why)
                    time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# TLS client loops shared by tls-handshakes and run
def read_reply(f):
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line


def implicit(port, ctx, session):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"EHLO bench\r\n")
    read_reply(f)           # by now a TLS 1.3 ticket has arrived
    sess, reused = s.session, s.session_reused
    s.sendall(b"QUIT\r\n")
    read_reply(f)
    f.close()
    s.close()
    return sess, reused


def starttls(port, ctx, session):
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = raw.makefile("rb")
    read_reply(f)
    raw.sendall(b"EHLO bench\r\n")
    read_reply(f)
    raw.sendall(b"STARTTLS\r\n")
    read_reply(f)
    f.close()
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    f = s.makefile("rb")
    s.sendall(b"EHLO bench\r\n")
    read_reply(f)
    sess, reused = s.session, s.session_reused
    s.sendall(b"QUIT\r\n")
    read_reply(f)
    f.close()
    s.close()
    return sess, reused


