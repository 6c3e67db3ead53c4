"""OpenAI GPT Image `/images/edits` over HTTP, with the product's failure rules.

429 → ProviderRateLimited (the caller retries once); 400 `moderation_blocked` → ModerationBlocked;
5xx and timeouts → back off 2^attempt s here, up to `max_retries`, then ProviderUnavailable;
anything else, or a body we cannot use → ProviderBadResponse.

Within a generation every call, its timeouts and its back-off are cut to the time the task has
left (`wearon.task_deadline`): a provider that accepts the connection and sends nothing ends the
task at its deadline (TaskDeadlineExceeded), not after (1 + max_retries) x the call timeout. (A
body that trickles in forever is cut by Dramatiq's time limit, which lands between two reads.)
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from loguru import logger
from pydantic import SecretStr

from wearon import metrics, task_deadline
from wearon.errors import (
    ModerationBlocked,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderUnavailable,
    TaskDeadlineExceeded,
)

#: The result's format and JPEG quality (the API's default is PNG; its JPEG default, quality 100).
OUTPUT = {"output_format": "jpeg", "output_compression": "90"}
CONNECT_TIMEOUT_S = 10.0


class SendGate(Protocol):
    """Our rate limiter (`wearon.adapters.rate_gate.ProviderRateGate`): `take` waits for a slot and
    returns it; its `trace` (an httpcore hook) checks it again as the request goes out."""

    def take(self) -> Traced: ...


class Traced(Protocol):
    def trace(self, event: str, info: dict[str, Any]) -> None: ...


class OpenAIImageProvider:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        model: str,
        max_retries: int,
        timeout_s: float,
        gate: SendGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` replaces httpx's own (tests wrap it, as httpx's MockTransport does)."""
        self._model = model
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._gate = gate
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key.get_secret_value()}"},
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            # One connection per worker thread in flight (calls last 20-40 s). httpx's default cap of
            # 100 made threads past it wait for a connection *after* passing our rate limiter, so calls
            # reached the provider late and bunched up (312 in one minute in the bench).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def edit(self, images: list[bytes], prompt: str) -> bytes:
        for attempt in range(self._max_retries + 1):
            try:
                return self._attempt(images, prompt)
            except ProviderUnavailable as exc:
                if attempt == self._max_retries:
                    raise
                delay = 2.0**attempt
                if not task_deadline.allows(delay):
                    raise TaskDeadlineExceeded(f"no time left to retry the provider ({exc})") from None
                logger.warning("provider unavailable ({}); retrying in {:.0f} s", exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, images: list[bytes], prompt: str) -> bytes:
        response = self._send(self._request(images, prompt))
        metrics.PROVIDER_REQUESTS.labels(status=str(response.status_code)).inc()
        return _interpret(response)

    def _request(self, images: list[bytes], prompt: str) -> httpx.Request:
        """The call, built first so that its rate slot is taken as close to the send as can be, and
        its timeouts cut to the time left once the slot is in hand."""
        form = self._form(prompt)
        request = self._client.build_request("POST", "/images/edits", data=form, files=_files(images))
        if self._gate is not None:
            request.extensions["trace"] = self._gate.take().trace
        task_deadline.check("the provider call")
        request.extensions["timeout"] = self._timeout().as_dict()
        return request

    def _send(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            return self._client.send(request)
        except httpx.TimeoutException:
            metrics.PROVIDER_REQUESTS.labels(status="timeout").inc()
            raise ProviderUnavailable("provider timed out") from None
        except httpx.TransportError as exc:
            metrics.PROVIDER_REQUESTS.labels(status="transport_error").inc()
            raise ProviderUnavailable(f"provider unreachable: {type(exc).__name__}") from None
        finally:
            metrics.PROVIDER_SECONDS.observe(time.monotonic() - started)

    def _timeout(self) -> httpx.Timeout:
        """Each phase's timeout, cut to the time the task has left."""
        return httpx.Timeout(task_deadline.cut(self._timeout_s), connect=task_deadline.cut(CONNECT_TIMEOUT_S))

    def _form(self, prompt: str) -> dict[str, str]:
        # JPEG at our quality: stored as it comes (wearon.images.as_stored_jpeg), not decoded and
        # re-encoded from the default PNG (~35 CPU-ms for a 1024x1536 result).
        return {"model": self._model, "prompt": prompt, "n": "1", **OUTPUT}


def _files(images: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image[]", (f"image-{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]


def _interpret(response: httpx.Response) -> bytes:
    status = response.status_code
    if status == 200:
        return _decode_image(response)
    code, message = _error_fields(response)
    if status == 429:
        raise ProviderRateLimited(f"provider rate limited: {message}", _retry_after(response))
    if status >= 500:
        raise ProviderUnavailable(f"provider HTTP {status}: {message}")
    if code == "moderation_blocked":
        raise ModerationBlocked(f"moderation blocked: {message}")
    raise ProviderBadResponse(f"provider HTTP {status} ({code or 'no code'}): {message}")


def _decode_image(response: httpx.Response) -> bytes:
    try:
        b64 = response.json()["data"][0]["b64_json"]
        return base64.b64decode(b64, validate=True)
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        raise ProviderBadResponse("provider returned a body without a usable b64_json image") from None


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    """OpenAI's error JSON: {"error": {"message", "type", "param", "code"}}."""
    try:
        error = response.json()["error"]
        return error.get("code"), str(error.get("message", ""))[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, f"non-JSON error body ({len(response.content)} bytes)"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
