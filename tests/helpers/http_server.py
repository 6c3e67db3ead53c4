"""A tiny threaded HTTP/1.1 server on 127.0.0.1 whose every answer a test chooses.

    with LocalHTTPServer() as server:
        server.route("/a.png", headers={"Content-Type": "image/png"}, body=png_bytes)
        fetch(server.url("/a.png"))
        assert server.requests[0].headers["host"] == ...

It listens on 127.0.0.1 unless given another address (`host="::1"` for IPv6). A body is either
bytes (sent with a Content-Length unless the route sets one) or chunks: an iterable, or a
zero-argument callable returning one so a route can answer more than once. Chunks are sent one
at a time with chunked transfer encoding (or raw, if the route sets its own Content-Length), so a
test can count how much a client really consumed; a generator is closed when the client goes
away. Unknown paths answer 404. Pass an `ssl.SSLContext` to serve HTTPS.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Chunks = Iterable[bytes] | Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class Route:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Chunks = b""
    #: Seconds to wait before the status line is sent.
    delay_s: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    method: str
    #: Path with the query string, exactly as the client sent it.
    target: str
    #: Header names in lower case.
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class LocalHTTPServer:
    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.requests: list[SeenRequest] = []
        self.connections = 0
        self.host = host
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._httpd = (_Server6 if ":" in host else _Server)((host, 0), _Handler)
        self._httpd.owner = self
        if ssl_context is not None:
            # Handshake in the connection's own thread, not in the accept loop.
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.scheme = "https" if ssl_context else "http"
        # A short poll interval so that close() (which waits for the loop to notice) is quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str, host: str | None = None) -> str:
        """The URL of `path`, naming `host` (default: the address listened on) in it."""
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{name}:{self.port}{path}"

    def route(
        self,
        path: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        body: bytes | Chunks = b"",
        delay_s: float = 0.0,
    ) -> None:
        self._routes[path] = Route(status, dict(headers or {}), body, delay_s)

    def requests_to(self, path: str) -> list[SeenRequest]:
        return [r for r in self.requests if r.path == path]

    def _record(self, request: SeenRequest) -> Route:
        with self._lock:
            self.requests.append(request)
        return self._routes.get(request.path, Route(404, {"Content-Type": "text/plain"}, b"no such route"))

    def _connected(self) -> None:
        with self._lock:
            self.connections += 1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is what several tests are about, not an error.
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._connected()

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_POST(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, *, send_body: bool) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        route = self.server.owner._record(SeenRequest(self.command, self.path, headers))
        time.sleep(route.delay_s)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if isinstance(route.body, bytes):
            self._send_bytes(route, route.body if send_body else b"")
        else:
            self._send_chunks(route, route.body() if callable(route.body) else route.body)

    def _send_bytes(self, route: Route, body: bytes) -> None:
        if not _has_header(route, "content-length"):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunks(self, route: Route, chunks: Iterable[bytes]) -> None:
        chunked = not _has_header(route, "content-length")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                if not chunk:
                    continue  # an empty chunk would end a chunked body early
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def _has_header(route: Route, name: str) -> bool:
    return any(k.lower() == name for k in route.headers)
