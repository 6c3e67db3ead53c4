"""A stand-in for OpenAI's `POST /v1/images/edits` (and `GET /v1/models`, the key check), because
the real API cannot be reached here.

It speaks the real wire format: multipart in (model, prompt, n, image[] files, Bearer key), and
`{"created": ..., "data": [{"b64_json": ...}]}` out, in the output_format asked for (png by
default, jpeg, webp); it refuses what the API refuses (no or a wrong key, a missing field, an
unknown model, an image that is not JPEG, PNG or WebP, an unknown output_format or an
output_compression outside 0-100) with OpenAI's error JSON. Its failures are the real ones, in
their real shapes (`tests.standins.openai_answers`): 5xx as OpenAI's JSON or as the proxy's HTML
page, 429s with the x-ratelimit-* headers and a retry-after that varies or is absent.

Behaviour is scripted per prompt, so one stand-in serves many concurrent tasks: a prompt
containing `[standin:<fault>]` gets that fault, counted per distinct prompt:
  429-once, 429-always, quota (a 429 for an exhausted quota), moderation, 5xx-once, 5xx-always,
  garbage (200 with an HTML body), bad-request, hang, timeout-once, held (answers once `release`
  is set), drip (200 and headers at once, then one body byte every 0.5 s, for ever).
Successive 429s cycle through RETRY_AFTERS and 5xx answers through SERVER_ERRORS; a test that
needs one says so: `[standin:429-once;retry-after=none]`, `[standin:5xx-always;answer=502-html]`.
Anything else succeeds after a latency drawn from `latency_s` (a (low, high) range). `sent` keeps
the status and headers of every answer.

Strict mode (`strict_limit`): as a provider enforcing its limit to the letter, every request's
arrival (the moment its head is read, before its body) is counted, and one that makes more than
`strict_limit` arrivals in any sliding `strict_window_s` gets a 429 (`arrivals`, `throttled`).

Run it as a process for benchmarks: `python -m tests.standins.openai --port 8089 --latency 20 40`
(`--strict-limit 300` for strict mode).
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
from collections import Counter, deque
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
from tests.standins import openai_answers as answers

#: `[standin:<fault>]` or `[standin:<fault>;<option>=<value>...]`.
FAULT = re.compile(r"\[standin:([a-z0-9-]+)((?:;[a-z-]+=[a-z0-9.-]+)*)\]")
API_KEY = "sk-test-standin-key-0123456789"


@dataclass(frozen=True)
class Sent:
    prompt: str
    status: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Call:
    """A request the API accepted: what it asked for, from where, and when it arrived."""

    prompt: str
    model: str
    images: int
    output_format: str
    client: str
    arrived: float


@dataclass(frozen=True)
class Fault:
    name: str
    nth: int  # this prompt's call number, from 1
    options: dict[str, str]

    def first_or(self, always: str) -> bool:
        return self.name == always or (self.name == always.replace("always", "once") and self.nth == 1)


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
    sent: list[Sent] = field(default_factory=list)
    output_formats: list[str] = field(default_factory=list)  # the output_format of every call
    clients: list[str] = field(default_factory=list)  # the address every call came from
    #: Strict mode: at most this many arrivals in any sliding `strict_window_s`; the rest get a 429.
    strict_limit: int | None = None
    strict_window_s: float = 60.0
    arrivals: list[float] = field(default_factory=list)  # wall-clock time of every request's head
    throttled: int = 0
    #: `[standin:held]` calls answer once this is set.
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._window: deque[float] = deque()
        self._retry_afters = answers.Rotation(answers.RETRY_AFTERS)
        self._server_errors = answers.Rotation(answers.SERVER_ERRORS)
        self.app = Starlette(
            routes=[
                Route("/v1/images/edits", self.edits, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/_standin/stats", self.stats, methods=["GET"]),
            ]
        )

    @contextmanager
    def served(self, host: str = "127.0.0.1") -> Iterator[Self]:
        """This stand-in over real HTTP on a free port of loopback (or `host`), `base_url` pointing at it."""
        with serve(self.app, host=host) as url:
            self.base_url = url + "/v1"
            yield self

    def count(self, marker: str) -> int:
        """Calls whose prompt contained `marker`."""
        return sum(n for prompt, n in self.seen.items() if marker in prompt)

    def answers_to(self, marker: str) -> list[Sent]:
        """What was answered to the calls whose prompt contained `marker`, in order."""
        return [sent for sent in self.sent if marker in sent.prompt]

    async def stats(self, _: Request) -> Response:
        """For benchmarks in another process: every call's arrival time and prompt."""
        return JSONResponse(
            {
                "calls": self.calls,
                "prompts": self.prompts,
                "clients": self.clients,
                "latencies": self.latencies,
                "arrivals": self.arrivals,
                "throttled": self.throttled,
            }
        )

    def _over_strict_limit(self) -> bool:
        """Counts this arrival; whether it makes more than `strict_limit` in the sliding window."""
        now = time.time()
        with self._lock:
            self.arrivals.append(now)
            if self.strict_limit is None:
                return False
            while self._window and self._window[0] <= now - self.strict_window_s:
                self._window.popleft()
            self._window.append(now)
            over = len(self._window) > self.strict_limit
            self.throttled += over
            return over

    async def models(self, request: Request) -> Response:
        """The model list, after the same key check as an edit (an operator's key check reads it)."""
        refused = answers.refused_key(self.api_key, request.headers.get("authorization"))
        if refused is not None:
            return refused
        listed = [{"id": model, "object": "model", "owned_by": "system"} for model in sorted(answers.MODELS)]
        return JSONResponse({"object": "list", "data": listed})

    async def edits(self, request: Request) -> Response:
        # When the request arrived, not when its body was read: a busy stand-in must not bunch
        # arrivals up in its record (the benches count them in sliding minutes).
        arrived = time.time()
        if self._over_strict_limit():
            return answers.rate_limited(self._retry_afters(), "gpt-image-1.5")
        form = await request.form(max_files=16, max_part_size=16 * 1024 * 1024)
        prompt = str(form.get("prompt", ""))
        answer = answers.refused_request(form, self.api_key, request.headers.get("authorization"))
        if answer is None:
            client = request.client.host if request.client else ""
            answer = await self._scripted(
                Call(
                    prompt,
                    str(form.get("model")),
                    len(form.getlist("image[]")),
                    str(form.get("output_format", "png")),
                    client,
                    arrived,
                )
            )
        with self._lock:
            self.sent.append(Sent(prompt, answer.status_code, dict(answer.headers)))
        return answer

    async def _scripted(self, call: Call) -> Response:
        with self._lock:
            self.calls.append(call.arrived)
            self.clients.append(call.client)
            self.prompts.append(call.prompt)
            self.seen[call.prompt] += 1
            nth = self.seen[call.prompt]
            self.images_received.append(call.images)
            self.output_formats.append(call.output_format)
            delay = self._random.uniform(*self.latency_s)
            self.latencies.append(delay)
        match = FAULT.search(call.prompt)
        if match is None:
            return await self._image(delay, call.output_format)
        options = dict(option.split("=", 1) for option in match.group(2).split(";") if option)
        return await self._respond(Fault(match.group(1), nth, options), call.model, delay, call.output_format)

    async def _respond(self, fault: Fault, model: str, delay: float, output_format: str) -> Response:
        if fault.first_or("hang") or fault.first_or("timeout-always"):
            await asyncio.sleep(self.hang_s)
        if fault.name == "held":
            await asyncio.to_thread(self.release.wait, self.hang_s)
        if fault.first_or("429-always"):
            return answers.rate_limited(fault.options.get("retry-after") or self._retry_afters(), model)
        if fault.first_or("5xx-always"):
            return answers.server_error(fault.options.get("answer") or self._server_errors())
        garbage = fault.name == "garbage"
        return await self._refusal(fault.name) or await self._image(delay, output_format, garbage=garbage)

    async def _refusal(self, fault: str) -> Response | None:
        if fault == "quota":
            return answers.quota_exceeded()
        if fault == "moderation":
            message = (
                "Your request was rejected by the safety system. It may contain content that is not allowed."
            )
            return answers.error(400, message, kind="image_generation_user_error", code="moderation_blocked")
        if fault == "bad-request":
            return answers.error(400, "Invalid value: '4096x4096'.", code="invalid_value", param="size")
        if fault == "drip":
            return StreamingResponse(_drip(), media_type="application/json")
        return None

    async def _image(self, delay: float, output_format: str, *, garbage: bool = False) -> Response:
        await asyncio.sleep(delay)
        if garbage:
            return Response(b"<html>502 Bad Gateway</html>", status_code=200, media_type="text/html")
        body = {
            "created": int(time.time()),
            "output_format": output_format,
            "data": [{"b64_json": _result(output_format)}],
        }
        remaining = answers.RATE_LIMIT_PER_MINUTE - 1
        headers = answers.api_headers() | answers.rate_limit_headers(remaining=remaining, reset_s=0.2)
        return JSONResponse(body, headers=headers)


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The most calls (arrival times, in seconds) that fell in any sliding `window` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def _drip() -> AsyncIterator[bytes]:
    while True:
        yield b" "
        await asyncio.sleep(0.5)


_RESULTS: dict[str, str] = {}


def result_image(output_format: str = "png") -> bytes:
    """The generated image in the format asked for: the same picture, every call."""
    out = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 120, 40)).save(out, format=output_format.upper())
    return out.getvalue()


def _result(output_format: str) -> str:
    if output_format not in _RESULTS:
        _RESULTS[output_format] = base64.b64encode(result_image(output_format)).decode()
    return _RESULTS[output_format]


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency", type=float, nargs=2, default=(20.0, 40.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict-limit", type=int, default=None, help="429 past this many a sliding minute")
    args = parser.parse_args()
    standin = OpenAIStandIn(latency_s=tuple(args.latency), seed=args.seed, strict_limit=args.strict_limit)
    uvicorn.run(standin.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
