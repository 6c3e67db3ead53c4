"""No secret reaches any process's output, even when failures put secrets inside exception text.

A real bridge and worker, logging at DEBUG, hold every secret production has: the OpenAI key, the
Supabase service-role key, a Redis password (a private redis-server that requires it) and signed
URLs (task images signed by the Next.js side, the result link the worker signs). Then failures put
them next to exceptions: OpenAI answers 401, and 500 (retried, so its text is logged), each quoting
the whole key it was sent, and garbage;
an image URL that is not an image; the database away behind a proxy whose error quotes the request's
credentials (retried, failed, its refund deferred); Redis killed and restarted. Every byte either
process wrote, JSON or not, is searched for each secret and for the middle of each.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from tests.faults.conftest import FaultStack
from tests.helpers.processes import Proc
from tests.observability.conftest import EchoingOpenAI, PasswordRedis, booted, push, wait_for_line
from tests.standins.supabase import SERVICE_ROLE_KEY
from wearon.domain.task import Channel

OPENAI_KEY = f"sk-proj-{secrets.token_urlsafe(32)}"
REDIS_PASSWORD = secrets.token_hex(16)
#: The token of a signed image URL, as the Next.js side hands them over.
IMAGE_TOKEN = secrets.token_urlsafe(24)
REDACTED = "[REDACTED]"


@pytest.fixture
def password_redis() -> Iterator[PasswordRedis]:
    server = PasswordRedis(REDIS_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.close()


def leaks(output: str, secret_values: dict[str, str]) -> list[str]:
    """The secrets found whole, or by their middle (a partly masked copy), in `output`."""
    return [
        name
        for name, value in secret_values.items()
        if value in output or (len(value) > 16 and value[6:-6] in output)
    ]


def result_token(stack: FaultStack, task: dict[str, Any]) -> str:
    row = stack.backend.session(Channel(task["channel"]), UUID(task["session_id"]))
    assert row is not None and row["result_url"], row
    return parse_qs(urlsplit(row["result_url"]).query)["token"][0]


def provider_failures(stack: FaultStack) -> dict[str, dict[str, Any]]:
    signed = f"{stack.images_url}/person.jpg?token={IMAGE_TOKEN}"
    not_an_image = f"{stack.images_url}/page.html?token={IMAGE_TOKEN}"
    tasks = {
        "completed": push(stack, Channel.B2C, "secrets ok", [signed]),
        "key_refused": push(stack, Channel.B2C, "[standin:401] secrets", [signed]),
        "provider_down": push(stack, Channel.B2B, "[standin:500-quoting] secrets", [signed]),
        "garbage": push(stack, Channel.B2C, "[standin:garbage] secrets", [signed]),
        "not_an_image": push(stack, Channel.B2B, "secrets page", [not_an_image]),
    }
    stack.wait_terminal(list(tasks.values()), timeout=40)
    return tasks


def database_outage(stack: FaultStack, worker: Proc) -> dict[str, Any]:
    """A task held while the database is away, then failed; its refund waits for the database."""
    stack.backend.simulate_outage()
    task = push(stack, Channel.B2C, "secrets outage", [f"{stack.images_url}/person.jpg?token={IMAGE_TOKEN}"])
    wait_for_line(worker, lambda line: "refund deferred" in line.text, 30, "refund deferred")
    stack.backend.standin.outage = False  # type: ignore[union-attr]
    stack.wait_terminal([task], timeout=30)
    return task


#: What each process writes when Redis goes away under it.
REDIS_LOST = {"bridge": "redis or broker unavailable", "worker": "Consumer encountered a connection error"}


def redis_outage(stack: FaultStack, server: PasswordRedis, procs: list[Proc]) -> dict[str, Any]:
    """Redis killed under both processes and restarted; a task pushed afterwards still completes."""
    server.stop()
    for proc in procs:
        wait_for_line(
            proc, lambda line, p=proc: REDIS_LOST[p.name] in line.text, 10, f"{proc.name} lost redis"
        )
    time.sleep(1)
    server.start()
    task = push(
        stack, Channel.B2C, "secrets after redis", [f"{stack.images_url}/person.jpg?token={IMAGE_TOKEN}"]
    )
    stack.wait_terminal([task], timeout=40)
    return task


def test_no_secret_reaches_any_output_across_failures(
    stack_of: Callable[..., FaultStack], standin: EchoingOpenAI, password_redis: PasswordRedis
) -> None:
    # Given a bridge and a worker holding every secret, on a Redis that requires its password
    standin.api_key = OPENAI_KEY
    stack = stack_of(
        redis_url=password_redis.url, OPENAI_API_KEY=OPENAI_KEY, OPENAI_MAX_RETRIES="1", INFRA_RETRY_FOR_S="2"
    )
    bridge, worker = booted(stack.bridge(), "bridge"), booted(stack.worker(), "worker")
    # When the provider refuses the key (quoting it), fails, talks garbage, an image is not one,
    # the database goes away behind a proxy quoting credentials, and Redis restarts
    tasks = provider_failures(stack)
    tasks["database_outage"] = database_outage(stack, worker)
    tasks["after_redis_outage"] = redis_outage(stack, password_redis, [bridge, worker])
    stack.stop()

    # Then no process wrote any secret, whole or in part
    out = {proc.name: proc.output() for proc in (bridge, worker)}
    secret_values = {
        "OPENAI_API_KEY": OPENAI_KEY,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_ROLE_KEY,
        "Redis password": REDIS_PASSWORD,
        "image URL token": IMAGE_TOKEN,
        "result URL token": result_token(stack, tasks["completed"]),
    }
    found = {name: leaks(text, secret_values) for name, text in out.items()}
    assert found == {"bridge": [], "worker": []}
    # though the failures happened as intended, and put the secrets on their way into lines
    statuses = {name: stack.status(task) for name, task in tasks.items()}
    assert statuses == {
        "completed": "completed",
        "key_refused": "failed",
        "provider_down": "failed",
        "garbage": "failed",
        "not_an_image": "failed",
        "database_outage": "failed",
        "after_redis_outage": "completed",
    }
    assert stack.refunds(tasks["database_outage"]) == 1
    stack.assert_balances(list(tasks.values()))
    assert f"provider HTTP 500: Upstream error for request authorised by {REDACTED}" in out["worker"]
    assert f"database unavailable for apikey {REDACTED}" in out["worker"]
    assert f"token={REDACTED}" in out["worker"]
