"""Reading a small JSON request body without ever holding more than the limit in memory."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from wearon.http.error_handlers import ApiError

#: A request is a URL and a number; 16 KiB is generous and stops a 50 MB upload at its first chunks.
MAX_BODY_BYTES = 16 * 1024


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    _require_json_media_type(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


def _require_json_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send the request body as application/json.")


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"The request body is over the {limit}-byte limit.")
