"""A loopback HTTP forwarding proxy that adds a fixed latency to every request and logs it.

Both deployers of `benchmarks/deploy.py` point their AWS endpoint at the proxy, which
sleeps ``latency`` seconds, forwards the request unchanged to the local cloud (moto's
server) and sends the answer back. Each request is logged with its action, read from:

- ``X-Amz-Target`` for JSON APIs (``AmazonSSM.GetParameter`` -> ``ssm.GetParameter``);
- ``Action=`` in the form body for query APIs (EC2, IAM, STS);
- otherwise the method and the first path segment (``GET /moto-api``), for REST APIs.

The service is read from the signature's credential scope (``.../us-east-1/ec2/aws4_request``).
Stdlib only: the proxy runs inside the benchmark's driver process.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Call", "LatencyProxy"]

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})


class Call:
    """One forwarded request: its action and when it was received and answered."""

    __slots__ = ("action", "end", "start")

    def __init__(self, action: str, start: float, end: float) -> None:
        self.action = action
        self.start = start
        self.end = end


class LatencyProxy:
    """A threaded forwarding proxy on ``127.0.0.1``; start with `start`, stop with `close`.

    Args:
        upstream: the server's URL, e.g. ``http://127.0.0.1:5000``.
        latency: seconds added to every request before it is forwarded.
    """

    def __init__(self, upstream: str, latency: float) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.latency = latency
        self._lock = threading.Lock()
        self._calls: list[Call] = []  # guarded by _lock
        self._local = threading.local()  # one upstream connection per handler thread
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The URL both deployers use as their AWS endpoint."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[Call]:
        """The calls logged since the last `take`, in arrival order; the log starts empty again."""
        with self._lock:
            calls, self._calls = self._calls, []
        return sorted(calls, key=lambda c: c.start)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> Any:
        """Send one request upstream on this thread's connection (reconnecting once)."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(*self.upstream, timeout=120)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response, response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def action_of(headers: Any, method: str, path: str, body: bytes) -> str:
    """``service.Action`` for a request (see the module docstring)."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}.{target.rsplit('.', 1)[-1]}"
    found = _ACTION.search(body)
    if found:
        return f"{service}.{found.group(1).decode()}"
    segment = path.split("?", 1)[0].strip("/").split("/", 1)[0]
    return f"{method} /{segment}" if not scope else f"{service}.{method} /{segment}"


def _handler_class(proxy: LatencyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

        def _relay(self) -> None:
            start = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            action = action_of(self.headers, self.command, self.path, body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            time.sleep(proxy.latency)
            try:
                response, payload = proxy._forward(self.command, self.path, headers, body)
            except (http.client.HTTPException, OSError) as error:
                self.send_error(502, f"upstream: {error}")
                proxy._record(Call(f"{action} (502)", start, time.perf_counter()))
                return
            self.send_response_only(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
            proxy._record(Call(action, start, time.perf_counter()))

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler
