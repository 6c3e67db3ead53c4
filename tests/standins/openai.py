"""A stand-in for OpenAI's `POST /v1/images/edits`, because the real API cannot be reached here.

It speaks the real wire format: multipart in (model, prompt, n, image[] files, Bearer key),
`{"created": ..., "data": [{"b64_json": ...}]}` out, and OpenAI's error JSON
`{"error": {"message", "type", "param", "code"}}` with a `retry-after` header on 429.

Behaviour is scripted per prompt, so one stand-in serves many concurrent tasks: a prompt
containing `[standin:<fault>]` gets that fault, counted per distinct prompt:
  429-once, 429-always, moderation, 5xx-once, 5xx-always, garbage, bad-request, hang, timeout-once,
  drip (200 and headers at once, then one body byte every 0.5 s, for ever).
Anything else succeeds after a latency drawn from `latency_s` (a (low, high) range).

Run it as a process for benchmarks: `python -m tests.standins.openai --port 8089 --latency 20 40`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import random
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Self

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.asgi import serve

FAULT = re.compile(r"\[standin:([a-z0-9-]+)\]")
API_KEY = "sk-test-standin-key-0123456789"


@dataclass
class OpenAIStandIn:
    api_key: str = API_KEY
    latency_s: tuple[float, float] = (0.0, 0.0)
    hang_s: float = 3600.0
    seed: int = 0
    base_url: str = ""  # set by whoever serves `app`
    calls: list[float] = field(default_factory=list)  # wall-clock arrival time of every call
    prompts: list[str] = field(default_factory=list)  # the prompt of every call, in order
    latencies: list[float] = field(default_factory=list)  # the latency drawn for every call
    seen: Counter[str] = field(default_factory=Counter)
    images_received: list[int] = field(default_factory=list)
    output_formats: list[str] = field(default_factory=list)  # the output_format of every call
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self.app = Starlette(
            routes=[
                Route("/v1/images/edits", self.edits, methods=["POST"]),
                Route("/_standin/stats", self.stats, methods=["GET"]),
            ]
        )

    @contextmanager
    def served(self) -> Iterator[Self]:
        """This stand-in over real HTTP on a free loopback port, `base_url` pointing at it."""
        with serve(self.app) as url:
            self.base_url = url + "/v1"
            yield self

    def count(self, marker: str) -> int:
        """Calls whose prompt contained `marker`."""
        return sum(n for prompt, n in self.seen.items() if marker in prompt)

    async def stats(self, _: Request) -> Response:
        """For benchmarks in another process: every call's arrival time and prompt."""
        return JSONResponse({"calls": self.calls, "prompts": self.prompts, "latencies": self.latencies})

    async def edits(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.", "invalid_request_error")
        form = await request.form(max_files=16, max_part_size=16 * 1024 * 1024)
        prompt, images = str(form.get("prompt", "")), form.getlist("image[]")
        if not form.get("model") or not prompt or not images:
            return _error(400, "missing_required_parameter", "model, prompt and image[] are required.")
        output_format, refusal = _output_format(
            str(form.get("output_format", "png")), form.get("output_compression")
        )
        if refusal is not None:
            return refusal
        with self._lock:
            self.calls.append(time.time())
            self.prompts.append(prompt)
            self.seen[prompt] += 1
            nth = self.seen[prompt]
            self.images_received.append(len(images))
            self.output_formats.append(output_format)
            delay = self._random.uniform(*self.latency_s)
            self.latencies.append(delay)
        fault = FAULT.search(prompt)
        return await self._respond(fault.group(1) if fault else "ok", nth, delay, output_format)

    async def _respond(self, fault: str, nth: int, delay: float, output_format: str = "png") -> Response:
        if fault == "hang" or (fault == "timeout-once" and nth == 1):
            await asyncio.sleep(self.hang_s)
        if fault == "429-always" or (fault == "429-once" and nth == 1):
            return _error(
                429, "rate_limit_exceeded", "Rate limit reached for images.", headers={"retry-after": "10"}
            )
        if fault == "moderation":
            return _error(400, "moderation_blocked", "Your request was rejected by the safety system.")
        if fault == "5xx-always" or (fault == "5xx-once" and nth == 1):
            return _error(500, None, "The server had an error while processing your request.", "server_error")
        if fault == "drip":
            return StreamingResponse(_drip(), media_type="application/json")
        if fault == "bad-request":
            return _error(400, "invalid_value", "Invalid value for 'size'.")
        await asyncio.sleep(delay)
        if fault == "garbage":
            return Response(b"<html>502 Bad Gateway</html>", status_code=200, media_type="text/html")
        body = {
            "created": int(time.time()),
            "output_format": output_format,
            "data": [{"b64_json": _result(output_format)}],
        }
        return JSONResponse(body)


async def _drip() -> AsyncIterator[bytes]:
    while True:
        yield b" "
        await asyncio.sleep(0.5)


def _error(
    status: int,
    code: str | None,
    message: str,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


#: As the real API: `output_format` png (the default), jpeg or webp; `output_compression` 0-100.
OUTPUT_FORMATS = ("png", "jpeg", "webp")
_RESULTS: dict[str, str] = {}


def _output_format(fmt: str, compression: object) -> tuple[str, Response | None]:
    if fmt not in OUTPUT_FORMATS:
        message = f"Invalid value: '{fmt}'. Supported values are: 'png', 'jpeg', and 'webp'."
        return fmt, _error(400, "invalid_value", message)
    if compression is not None and not (str(compression).isdigit() and 0 <= int(str(compression)) <= 100):
        return fmt, _error(400, "invalid_value", "output_compression must be an integer between 0 and 100.")
    return fmt, None


def result_image(fmt: str = "png") -> bytes:
    """The generated image in the format asked for: the same picture, every call."""
    out = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 120, 40)).save(out, format=fmt.upper())
    return out.getvalue()


def _result(fmt: str) -> str:
    if fmt not in _RESULTS:
        _RESULTS[fmt] = base64.b64encode(result_image(fmt)).decode()
    return _RESULTS[fmt]


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, nargs=2, default=(20.0, 40.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    standin = OpenAIStandIn(latency_s=tuple(args.latency), seed=args.seed)
    uvicorn.run(standin.app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
