"""A loopback HTTP proxy between pyarrow's S3 client and the test S3 server that injects
faults on a seeded schedule: delay, drop (close without answering), truncate (send the
headers and half the body), 503 (SlowDown-style XML), corrupt (same length, bytes
flipped) and deny (403 AccessDenied).

Only GETs of objects whose key matches ``pattern`` are disturbed, each at most
``max_faults`` times (then served faithfully), so every request loop is bounded.
Binds 127.0.0.1 only.
"""

import http.client
import http.server
import random
import re
import threading
import time

FAULTS = ("delay", "drop", "truncate", "503", "corrupt")


class FaultProxy:
    def __init__(
        self,
        upstream,
        *,
        seed=0,
        faults=FAULTS,
        rate=0.5,
        max_faults=2,
        pattern=r"shard-\d+\.arrow",
        mode=None,
        delay_s=0.2,
    ):
        self.upstream = upstream
        self.seed = seed
        self.faults = tuple(faults)
        self.rate = rate
        self.max_faults = max_faults
        self.pattern = re.compile(pattern)
        self.mode = mode  # a fault to apply to every matching request, unbounded (e.g. "deny")
        self.delay_s = delay_s
        self.attempts = {}
        self.injected = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(self, "GET")

            def do_HEAD(self):
                proxy._handle(self, "HEAD")

            def do_PUT(self):
                proxy._handle(self, "PUT")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _choose(self, method, path):
        if method != "GET" or not self.pattern.search(path):
            return None
        if self.mode is not None:
            return self.mode
        with self.lock:
            a = self.attempts.get(path, 0)
            self.attempts[path] = a + 1
        if a >= self.max_faults:
            return None
        rng = random.Random(f"{self.seed}:{path}:{a}")
        if rng.random() >= self.rate:
            return None
        return rng.choice(self.faults)

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        fault = self._choose(method, h.path)
        if fault is not None:
            with self.lock:
                self.injected.append((fault, h.path))
        if fault == "drop":
            h.close_connection = True
            return
        if fault in ("503", "deny"):
            code, name = (503, "SlowDown") if fault == "503" else (403, "AccessDenied")
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{name}</Code>'
                f"<Message>injected</Message></Error>"
            ).encode()
            h.send_response(code)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(xml)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(xml)
            h.close_connection = True
            return
        if fault == "delay":
            time.sleep(self.delay_s)
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            headers = {
                k: v for k, v in h.headers.items() if k.lower() not in ("connection", "expect")
            }
            conn.request(method, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            length = resp.getheader("Content-Length") if method == "HEAD" else str(len(data))
            out_headers = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            ]
        finally:
            conn.close()
        if fault == "corrupt" and data:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        h.send_response(status)
        for k, v in out_headers:
            h.send_header(k, v)
        h.send_header("Content-Length", length or "0")
        if fault == "truncate":
            h.send_header("Connection", "close")
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data[: len(data) // 2] if fault == "truncate" else data)
        if fault == "truncate":
            h.wfile.flush()
            h.close_connection = True
