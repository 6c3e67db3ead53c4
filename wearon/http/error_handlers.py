"""Every error the API returns, in one JSON shape: {"error": {"code": ..., "message": ...}}.

The handlers here are the one place exceptions become responses: our own request errors
(ApiError), the domain's refusals (ImageRejected, BodyNotDetected, InvalidSizeChart, LinkRejected),
Starlette's 404/405, and, last, anything unexpected, which is logged and answered with a bare 500,
never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

from loguru import logger
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wearon.errors import BodyNotDetected, ImageRejected, InvalidSizeChart, LinkRejected, WearOnError


class ApiError(Exception):
    """A request the API refuses before any work: bad JSON, wrong type, too large, ..."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


#: A refused /files link (tampered, malformed or a bad path: 403).
_LINK_STATUS = {"link_expired": 410, "not_found": 404}
#: Starlette's own HTTP errors, by status, as stable codes.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    logger.info("request refused: {}", exc.code)
    return error_response(exc.status, exc.code, exc.message)


async def wearon_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, WearOnError)
    if isinstance(exc, ImageRejected | BodyNotDetected):
        # Both say what the caller can fix: another URL, another photo.
        logger.info("request refused: {}", exc.code)
        return error_response(422, exc.code, str(exc))
    if isinstance(exc, InvalidSizeChart):
        logger.info("request refused: invalid_size_chart")
        return error_response(422, "invalid_size_chart", f"size_chart: {exc}")
    if isinstance(exc, LinkRejected):
        return error_response(_LINK_STATUS.get(exc.code, 403), exc.code, str(exc))
    logger.opt(exception=exc).error("unexpected wearon error")
    return error_response(500, "internal_error", "The server could not complete the request.")


async def http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def unexpected_error(_: Request, exc: Exception) -> Response:
    logger.opt(exception=exc).error("unhandled error")
    return error_response(500, "internal_error", "The server could not complete the request.")


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    WearOnError: wearon_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
