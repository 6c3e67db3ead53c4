"""What OpenAI's API (and the proxy in front of it) answers when it does not return an image, in
the real wire shapes, for the OpenAI stand-in.

Every JSON error is `{"error": {"message", "type", "param", "code"}}` with OpenAI's own headers
(`x-request-id`, `openai-version`, `openai-processing-ms`). A 5xx is not always JSON: the proxy in
front of the API answers a 502 or a 504 with an HTML page of its own. A 429 carries the
`x-ratelimit-*` headers, and a `retry-after` that differs from one answer to the next, or is
absent: a client must not rely on it being there, nor on any one value.
"""

from __future__ import annotations

import uuid
from itertools import count
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

#: What the API accepts as `model` (the stand-in does not emulate dall-e-2's own rules).
MODELS = frozenset({"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"})
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
#: The 5xx answers seen in production: the API's own JSON, and the proxy's (JSON or an HTML page).
SERVER_ERRORS = ("500", "502-html", "503", "502", "504-html")
#: retry-after on successive 429s: never our own 10 s, sometimes absent ("none").
RETRY_AFTERS = ("20", "none", "1", "59")
RATE_LIMIT_PER_MINUTE = 300

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_PHRASES = {502: "Bad Gateway", 504: "Gateway Time-out"}


def error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    code: Any = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={**api_headers(), **(headers or {})})


def api_headers() -> dict[str, str]:
    return {
        "x-request-id": f"req_{uuid.uuid4().hex}",
        "openai-version": "2020-10-01",
        "openai-processing-ms": "41",
    }


def server_error(answer: str) -> Response:
    """One of SERVER_ERRORS."""
    if answer.endswith("-html"):
        status = int(answer.removesuffix("-html"))
        page = _GATEWAY_PAGE.format(status=status, phrase=_PHRASES[status])
        return HTMLResponse(page, status_code=status, headers={"server": "cloudflare", "cf-ray": "8f0e-AMS"})
    if answer == "502":
        return error(502, "Bad gateway.", kind="cf_bad_gateway", code=502)
    if answer == "503":
        return error(503, "The server is overloaded or not ready yet.", kind="server_error")
    return error(
        500, "The server had an error while processing your request. Sorry about that!", kind="server_error"
    )


def rate_limited(retry_after: str, model: str) -> JSONResponse:
    """A 429 for requests per minute; `retry_after` "none" sends no retry-after header."""
    wait_s = int(retry_after) if retry_after != "none" else 7
    message = (
        f"Rate limit reached for {model} in organization org-standin on requests per min (RPM): "
        f"Limit {RATE_LIMIT_PER_MINUTE}, Used {RATE_LIMIT_PER_MINUTE}, Requested 1. Please try again in "
        f"{wait_s}s. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = rate_limit_headers(remaining=0, reset_s=wait_s)
    if retry_after != "none":
        headers["retry-after"] = retry_after
    return error(429, message, kind="requests", code="rate_limit_exceeded", headers=headers)


def quota_exceeded() -> JSONResponse:
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
    )
    return error(429, message, kind="insufficient_quota", code="insufficient_quota")


def rate_limit_headers(remaining: int, reset_s: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(RATE_LIMIT_PER_MINUTE),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": _duration(reset_s),
        "x-ratelimit-limit-tokens": "250000",
        "x-ratelimit-remaining-tokens": "249000",
        "x-ratelimit-reset-tokens": "240ms",
    }


def _duration(seconds: float) -> str:
    """OpenAI's reset format: 240ms, 12s, 1m30s."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def refused_request(form: Any, api_key: str, authorization: str | None) -> Response | None:
    """The API's refusal of a request it would not run, or None."""
    return refused_key(api_key, authorization) or _refused_form(form)


def refused_key(api_key: str, authorization: str | None) -> Response | None:
    """The API's refusal of a missing or wrong key, or None."""
    if authorization is None:
        return error(401, NO_KEY)
    if authorization != f"Bearer {api_key}":
        key = authorization.removeprefix("Bearer ")
        masked = f"{key[:3]}{'*' * max(len(key) - 7, 0)}{key[-4:]}"
        message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
        return error(401, message, code="invalid_api_key")
    return None


def _refused_form(form: Any) -> Response | None:
    for name in ("prompt", "image[]"):
        if not form.get(name):
            param = name.removesuffix("[]")
            return error(
                400, f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
            )
    model = str(form.get("model", ""))
    if model not in MODELS:
        supported = ", ".join(f"'{m}'" for m in sorted(MODELS))
        message = f"Invalid value: '{model}'. Supported values are: {supported}."
        return error(400, message, code="invalid_value", param="model")
    refused = _refused_output(form)
    if refused is not None:
        return refused
    for n, image in enumerate(form.getlist("image[]")):
        kind = getattr(image, "content_type", None)
        if kind not in IMAGE_TYPES:
            message = (
                f"Invalid file 'image[{n}]': unsupported mimetype ('{kind}'). Supported file formats are "
                "'image/jpeg', 'image/png', and 'image/webp'."
            )
            return error(400, message, code="unsupported_file_mimetype", param="image")
    return None


class Rotation:
    """Successive answers of one kind cycle through its variants, so every run sees each of them."""

    def __init__(self, variants: tuple[str, ...]) -> None:
        self._variants = variants
        self._next = count()

    def __call__(self) -> str:
        return self._variants[next(self._next) % len(self._variants)]


def _refused_output(form: Any) -> Response | None:
    """`output_format` png, jpeg or webp; `output_compression` an integer from 0 to 100."""
    output_format = str(form.get("output_format", "png"))
    if output_format not in OUTPUT_FORMATS:
        message = f"Invalid value: '{output_format}'. Supported values are: 'png', 'jpeg', and 'webp'."
        return error(400, message, code="invalid_value", param="output_format")
    compression = form.get("output_compression")
    if compression is not None and not (str(compression).isdigit() and int(str(compression)) <= 100):
        message = f"Invalid value: '{compression}'. Expected an integer between 0 and 100."
        return error(400, message, code="invalid_value", param="output_compression")
    return None
