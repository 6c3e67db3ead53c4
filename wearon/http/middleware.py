"""The API's one middleware: every request gets an id, an access-log line and its metrics.

The request id is bound to every log line the request causes and echoed to the caller. Every
label value comes from a fixed set, so no request can create series: the route template (or
`unmatched`, never the raw path), the method (`other` for any but the standard ones) and the status
our app answered (499 when the client hung up first, see `error_handlers`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence

from loguru import logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wearon.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_SECONDS

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"
#: Methods counted by name; a caller may send any token as a method.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"
#: A caller's id is reused only if it is short and plain; anything else could forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ObserveRequests:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        route, status = self._route_of(scope), 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        HTTP_IN_FLIGHT.labels(route).inc()
        with logger.contextualize(request_id=request_id):
            try:
                await self.app(scope, receive, send_observed)
            finally:
                HTTP_IN_FLIGHT.labels(route).dec()
                _record(scope, route, status, time.perf_counter() - started)

    def _route_of(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE and isinstance(route, Route):
                return route.path
        return UNMATCHED


def _record(scope: Scope, route: str, status: int, elapsed_s: float) -> None:
    method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER_METHOD
    HTTP_SECONDS.labels(route, method).observe(elapsed_s)
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    # The path only: query strings can carry tokens.
    logger.bind(method=method, path=scope["path"], status=status, ms=round(elapsed_s * 1000, 1)).info(
        "request"
    )


def _request_id(given: str | None) -> str:
    return given if given and _SAFE_ID.match(given) else uuid.uuid4().hex
