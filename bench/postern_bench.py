"""postern_bench - start a private posternd for a benchmark (loopback only).

Shared by the scripts in bench/: a temporary directory (usable by the
workers' user when run as root), a certificate made with certtool, a config
with the endpoints asked for on free ports, and the server stopped by PID.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILDDIR = os.environ.get("POSTERN_BUILDDIR",
                          os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, endpoints, workers=2, extra="", data_hook=None):
        self.dir = tempfile.mkdtemp(prefix="postern-bench-")
        os.chmod(self.dir, 0o755)
        root = os.geteuid() == 0
        hook = os.path.join(self.dir, "postern-maildir")
        shutil.copy(os.path.join(BUILDDIR, "hooks", "postern-maildir"), hook)
        os.chmod(hook, 0o755)
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        with open(os.path.join(self.dir, "tmpl"), "w") as f:
            f.write("cn = localhost\nip_address = 127.0.0.1\nexpiration_days = 30\n"
                    "tls_www_server\nsigning_key\n")
        subprocess.run(["certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", key],
                       check=True, capture_output=True)
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key,
                        "--template", os.path.join(self.dir, "tmpl"), "--outfile", cert],
                       check=True, capture_output=True)
        self.ports = {name: free_port() for name in endpoints}
        conf = ["[server]", "hostname = bench.test", "pidfile =", f"workers = {workers}",
                f"min_spare = 1", f"max_spare = {max(workers, 1)}", f"spool_directory = {self.dir}"]
        if root:
            conf += ["user = nobody", "group = nogroup"]
        conf += ["[tls]", f"certificate = {cert}", f"key = {key}", "[hooks]",
                 f"data = {data_hook or hook + ' ' + os.path.join(self.dir, 'Maildir')}"]
        for name, mode in endpoints.items():
            conf += [f"[{name}]", f"listen = 127.0.0.1:{self.ports[name]}", f"tls = {mode}"]
        conf.append(extra)
        self.conf = os.path.join(self.dir, "postern.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        if root:
            subprocess.run(["chown", "-R", "nobody:nogroup", self.dir], check=True)
            os.chown(key, 0, 0)
        self.log = open(os.path.join(self.dir, "posternd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILDDIR, "posternd"), "-f", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        self.stop()
                        raise RuntimeError("posternd did not start; see " + self.log.name)
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
