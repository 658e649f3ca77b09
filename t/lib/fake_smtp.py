# SPDX-License-Identifier: ISC
"""fake_smtp - a scriptable SMTP/LMTP server for postern-forward's tests.

    srv = FakeSMTP(lmtp=False, caps=('8BITMIME', 'PIPELINING'), refuse={'x@y': '550 5.1.1 no'},
                   fault=None)
    srv.port; srv.messages  # [{'mail': line, 'rcpts': [lines], 'data': bytes (as on the wire)}]
    srv.commands            # every command line received, in order
    srv.connections         # how many connections were accepted
    srv.stop()

FAULT: None, 'close-mid-data' (close after 354 and some bytes), 'garbage'
(nonsense instead of the reply to the message), 'stall' (no reply to the
message, the connection kept open), 'slow' (the 250 after SLOW seconds),
'refuse-data' (554 to the message).  LMTP_RESULTS maps a recipient to its
reply after the message (default 250).  Python 3 standard library only.
"""
import socket
import threading
import time

__all__ = ['FakeSMTP']


class FakeSMTP:
    def __init__(self, lmtp=False, caps=('8BITMIME', 'PIPELINING', 'ENHANCEDSTATUSCODES'),
                 refuse=None, fault=None, lmtp_results=None, slow=3):
        self.lmtp, self.caps, self.refuse = lmtp, list(caps), refuse or {}
        self.fault, self.lmtp_results, self.slow = fault, lmtp_results or {}, slow
        self.messages, self.commands, self.connections = [], [], 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.open = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.running = False
        self.sock.close()
        for c in self.open:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(c)
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _session(self, c):
        f = c.makefile('rb')
        try:
            self._serve(c, f)
        except (OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _serve(self, c, f):
        send = lambda s: c.sendall(s.encode() + b'\r\n')
        send('220 fake.test ESMTP')
        mail, rcpts = None, []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode('latin-1').rstrip('\r\n')
            self.commands.append(cmd)
            verb = cmd.split(' ')[0].upper()
            if verb in ('EHLO', 'LHLO'):
                lines = ['fake.test'] + self.caps
                for i, l in enumerate(lines):
                    send('250%s%s' % (' ' if i == len(lines) - 1 else '-', l))
            elif verb == 'MAIL':
                mail, rcpts = cmd, []
                send('250 2.1.0 Ok')
            elif verb == 'RCPT':
                addr = cmd[cmd.index('<') + 1:cmd.index('>')]
                if addr in self.refuse:
                    send(self.refuse[addr])
                else:
                    rcpts.append(addr)
                    send('250 2.1.5 Ok')
            elif verb == 'RSET':
                mail, rcpts = None, []
                send('250 2.0.0 Ok')
            elif verb == 'STARTTLS' and 'STARTTLS' in self.caps:
                send('220 2.0.0 go ahead')      # and no TLS: the handshake fails
                return
            elif verb == 'NOOP':
                send('250 2.0.0 Ok')
            elif verb == 'QUIT':
                send('221 2.0.0 Bye')
                return
            elif verb == 'DATA':
                send('354 go ahead')
                data = b''
                if self.fault == 'close-mid-data':
                    f.read(10)
                    return
                while True:
                    l = f.readline()
                    if not l:
                        return
                    if l == b'.\r\n':
                        break
                    data += l
                if not self._end(send, mail, rcpts, data):
                    return
                mail, rcpts = None, []
            elif verb == 'BDAT':
                parts = cmd.split()
                n, last = int(parts[1]), len(parts) > 2
                chunk = f.read(n) if n else b''
                if self.fault == 'close-mid-data':
                    return
                self.chunks = getattr(self, 'chunks', b'') + chunk
                if not last:
                    send('250 2.0.0 %d octets' % n)
                    continue
                data, self.chunks = self.chunks, b''
                if not self._end(send, mail, rcpts, data):
                    return
                mail, rcpts = None, []
            else:
                send('502 5.5.2 unknown command')

    def _end(self, send, mail, rcpts, data):
        """The reply(s) to a message; False to end the session."""
        if self.fault == 'garbage':
            send('HTTP/1.0 200 OK\r\n\x00\xffnonsense')
            return False
        if self.fault == 'stall':
            time.sleep(3600)
            return False
        if self.fault == 'slow':
            time.sleep(self.slow)
        if self.fault == 'refuse-data':
            send('554 5.7.1 content refused')
            return True
        self.messages.append({'mail': mail, 'rcpts': list(rcpts), 'data': data})
        if self.lmtp:
            for r in rcpts:
                send(self.lmtp_results.get(r, '250 2.0.0 <%s> delivered' % r))
        else:
            send('250 2.0.0 Ok: queued as FAKE%d' % len(self.messages))
        return True
