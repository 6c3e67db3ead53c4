"""Real processes (bridge, worker, scheduler, API) for the observability tests, and what they wrote.

The stack is the fault tests' (`FaultStack`: real Redis, the Supabase stand-in over real HTTP with
the real PostgreSQL behind it, the OpenAI stand-in), with every process logging at DEBUG so the
tests see every line a process can write. Two stand-ins here are harsher than the real services:
their errors quote the credentials they were sent, so a secret reaches exception text for sure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import TEST_PG_DSN, TEST_REDIS_URL
from tests.faults.conftest import FaultStack
from tests.helpers.asgi import free_port, serve
from tests.helpers.backends import SupabaseBackend
from tests.helpers.postgres import build_test_database
from tests.helpers.processes import BRIDGE_READY, WORKER_READY, Proc, wait_ready, wait_until
from tests.standins.openai import OpenAIStandIn
from tests.standins.supabase import SupabaseStandIn
from wearon import keys
from wearon.domain.task import Channel

LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


@dataclass(frozen=True)
class Line:
    """One line of a process's output: its JSON record, or None for a line that is not JSON."""

    process: str
    text: str
    record: dict[str, Any] | None

    @property
    def request_id(self) -> str | None:
        return None if self.record is None else self.record.get("request_id")

    @property
    def level(self) -> int:
        return LEVELS.get(str((self.record or {}).get("level")), 0)

    def show(self) -> str:
        return f"{self.process}: {self.text[:400]}"


def read_lines(proc: Proc, since: int = 0) -> list[Line]:
    """The lines `proc` wrote, from line number `since` on."""
    out = []
    for text in proc.output().splitlines()[since:]:
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        out.append(Line(proc.name, text, record if isinstance(record, dict) else None))
    return out


def booted(proc: Proc, kind: str, timeout: float = 30.0) -> Proc:
    """Wait until a bridge or worker (`kind`, for the reader) is ready for work: `wait_ready`."""
    assert proc.ready is not None and proc.ready.line == READY[kind]
    return wait_ready(proc, timeout)


#: The readiness line of each kind of process.
READY = {"bridge": BRIDGE_READY, "worker": WORKER_READY}


def push(
    stack: FaultStack, channel: Channel, prompt: str, image_urls: list[str] | None = None
) -> dict[str, Any]:
    """FaultStack.push, with image URLs of the test's choosing (signed ones, for instance)."""
    task = stack.task(channel, prompt)
    task["image_urls"] = image_urls or task["image_urls"]
    owner = task["store_id"] or task["user_id"]
    assert stack.backend.open_session(channel, UUID(task["session_id"]), owner, task["prompt"])
    stack.redis.lpush(keys.TASKS, json.dumps(task))
    return task


#: Prompt marker -> (status, code, message) of an error quoting the key the stand-in was sent.
QUOTING_ERRORS = {
    "[standin:401]": (401, "invalid_api_key", "Incorrect API key provided: {key}."),
    "[standin:500-quoting]": (500, None, "Upstream error for request authorised by {key}."),
}


class EchoingOpenAI(OpenAIStandIn):
    """The OpenAI stand-in, plus errors whose message quotes the whole key it was sent (the real
    API quotes a masked one), so the key reaches the worker's exception text: `[standin:401]`
    (final at once) and `[standin:500-quoting]` (retried, so its text is logged on the way)."""

    async def edits(self, request: Request) -> Response:
        form = await request.form(max_files=16, max_part_size=16 * 1024 * 1024)
        prompt = str(form.get("prompt", ""))
        for marker, (status, code, message) in QUOTING_ERRORS.items():
            if marker in prompt:
                key = request.headers.get("authorization", "").removeprefix("Bearer ")
                error = {"message": message.format(key=key), "type": "invalid_request_error", "code": code}
                return JSONResponse({"error": {**error, "param": None}}, status_code=status)
        return await super().edits(request)


class EchoingOutage:
    """In front of the Supabase stand-in: while it is down, a 503 whose error quotes the request's
    credentials, as a misconfigured proxy's error page can."""

    def __init__(self, standin: SupabaseStandIn) -> None:
        self.standin = standin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app: ASGIApp = self.standin.app
        if scope["type"] == "http" and self.standin.outage:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            quoted = f"apikey {headers.get('apikey')}, {headers.get('authorization')}"
            body = {"code": "PGRST000", "message": f"database unavailable for {quoted}", "details": None}
            app = JSONResponse({**body, "hint": None}, status_code=503)
        await app(scope, receive, send)


class PasswordRedis:
    """A private redis-server that requires a password; `stop()` and `start()` make an outage."""

    def __init__(self, password: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/ensure-services.sh installs it)")
        self.password, self.port = password, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wearon-redis-"))
        self._argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        self._argv += ["--save", "", "--appendonly", "yes", "--requirepass", password]
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 10, what="password redis")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def standin() -> Iterator[EchoingOpenAI]:
    with EchoingOpenAI(latency_s=(0.1, 0.2), hang_s=60.0).served() as stand:
        yield stand


@pytest.fixture(scope="module")
def supabase_module() -> Iterator[SupabaseBackend]:
    build_test_database()
    standin = SupabaseStandIn(dsn=TEST_PG_DSN)
    try:
        with serve(EchoingOutage(standin)) as url:
            yield SupabaseBackend(standin, url)
    finally:
        standin.close()  # its pooled database connections


@pytest.fixture
def supabase(supabase_module: SupabaseBackend) -> SupabaseBackend:
    supabase_module.reset()
    return supabase_module


@pytest.fixture
def stack_of(
    tmp_path: Path,
    standin: EchoingOpenAI,
    images_url: str,
    supabase: SupabaseBackend,
    redis_client: redis.Redis,  # this session's Redis database, emptied
) -> Iterator[Callable[..., FaultStack]]:
    """stack_of(redis_url=..., **env) -> a FaultStack on the Supabase stand-in, its processes at DEBUG."""
    stacks: list[FaultStack] = []

    def make(redis_url: str | None = None, **env: str) -> FaultStack:
        stack = FaultStack(tmp_path, standin, images_url, supabase, redis_url=redis_url or TEST_REDIS_URL)
        stack.extra_env = {"LOG_LEVEL": "DEBUG", **env}
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            stack.stop()


def wait_for_line(proc: Proc, predicate: Callable[[Line], bool], timeout: float, what: str) -> Line:
    found: list[Line] = []

    def seen() -> bool:
        found[:] = [line for line in read_lines(proc) if predicate(line)]
        return bool(found)

    wait_until(seen, timeout, interval=0.2, what=what)
    return found[0]


def settle(seconds: float = 0.5) -> None:
    """Let processes flush the lines that follow a state change (an ack after a commit)."""
    time.sleep(seconds)
