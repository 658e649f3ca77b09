#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""webhook-receiver.py SECRET_FILE PORT DIR - the receiving side of
postern-webhook: check the signature and the timestamp, store the message."""
import hashlib, hmac, http.server, os, sys, time

SECRET = open(sys.argv[1], 'rb').read().rstrip(b'\r\n')
WINDOW = 300                    # seconds: older (or future) timestamps are replays
seen = {}                       # signature -> time, within the window

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        ts, sig = self.headers.get('X-Postern-Timestamp', ''), self.headers.get('X-Postern-Signature', '')
        want = 'sha256=' + hmac.new(SECRET, ts.encode() + b'.' + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want) or not ts.isdigit() or abs(time.time() - int(ts)) > WINDOW:
            return self.answer(403)     # forged, or too old: Postern answers 554
        for s in [s for s, t in seen.items() if time.time() - t > WINDOW]:
            del seen[s]
        if sig not in seen:             # the same request again: stored already
            name = os.path.join(sys.argv[3], '%s.eml' % sig[7:23])
            with open(name + '.tmp', 'wb') as f:
                f.write(body); f.flush(); os.fsync(f.fileno())
            os.rename(name + '.tmp', name)
            seen[sig] = time.time()
        self.answer(200)                # only now does Postern answer 250

    def answer(self, status):
        self.send_response(status); self.send_header('Content-Length', '0'); self.end_headers()

http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[2])), Receiver).serve_forever()
