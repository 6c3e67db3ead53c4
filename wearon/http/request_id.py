"""Middleware: one request id per request, bound to every log line and echoed to the caller."""

from __future__ import annotations

import re
import time
import uuid

from loguru import logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
#: A caller's id is reused only if it is short and plain; anything else could forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(Headers(scope=scope).get(HEADER))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with logger.contextualize(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                # The path only: query strings can carry tokens.
                logger.bind(method=scope["method"], path=scope["path"], status=status, ms=elapsed_ms).info(
                    "request"
                )


def _request_id(given: str | None) -> str:
    return given if given and _SAFE_ID.match(given) else uuid.uuid4().hex
