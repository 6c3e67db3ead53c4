"""The stuck-session sweep in a real Dramatiq worker: one run per minute, whoever sent it (periodiq's
tick from schedulers in any time zone, the scheduler's start-up sweep), and only stuck sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import dramatiq
import pytest
import redis
from loguru import logger

from tests.actors.conftest import Backend, Pipeline
from tests.helpers.backends import SupabaseBackend
from wearon.actors.maintenance import STARTUP_MINUTE, minute_of
from wearon.domain.session import Lease
from wearon.domain.task import Channel

STUCK_AFTER_S = 900  # STUCK_SESSION_AFTER_S's default, as in the pipeline's settings


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    yield lines
    logger.remove(sink)


def session(pipeline: Pipeline, backend: Backend, *, untouched_for_s: int) -> dict[str, Any]:
    """A session claimed by a message that will never finish it, untouched for that long."""
    supabase = backend.inner
    assert isinstance(supabase, SupabaseBackend)
    task = pipeline.task(Channel.B2C, "claimed by a worker that died")
    backend.open_session(task, pipeline.START_BALANCE)
    supabase.store.claim(
        Channel.B2C, UUID(task["session_id"]), "a-message-long-gone", Lease("a-message-long-gone-attempt")
    )
    supabase.age(Channel.B2C, UUID(task["session_id"]), untouched_for_s)
    return task


def test_the_start_up_sweep_and_the_ticks_of_one_minute_sweep_once(
    pipeline: Pipeline,
    backend: Backend,
    worker_broker: dramatiq.Broker,
    redis_client: redis.Redis,
    log_lines: list[str],
) -> None:
    # Given a stuck session, and one a worker is on right now
    stuck = session(pipeline, backend, untouched_for_s=2 * STUCK_AFTER_S)
    busy = session(pipeline, backend, untouched_for_s=5)
    # When, in one minute, the scheduler's start-up sweep and that minute's tick arrive, the tick
    # twice (two schedulers, one writing its time two hours east of UTC)
    now = datetime.now(UTC)
    sweep = worker_broker.get_actor("sweep_stuck_sessions")
    sweep.send_with_options(**{STARTUP_MINUTE: minute_of(now)})
    sweep.send_with_options(scheduled_at=now.isoformat())
    sweep.send_with_options(scheduled_at=now.astimezone(timezone(timedelta(hours=2))).isoformat())
    # Then one of them sweeps and the others find the minute's lock taken
    pipeline.wait_for(lambda: sum(" for " + minute_of(now) in line for line in log_lines) == 3)
    ran = [line for line in log_lines if "failed and refunded" in line]
    assert ran == [f"{ran[0].split(' for ')[0]} for {minute_of(now)}: failed and refunded 1 stuck sessions"]
    assert sum("start-up sweep for" in line for line in log_lines) == 1
    assert [key.decode() for key in redis_client.keys("wearon:lock:sweep-stuck:*")] == [
        f"wearon:lock:sweep-stuck:{minute_of(now)}"
    ]
    # And only the stuck session was failed and refunded
    assert pipeline.wait_terminal(stuck)["status"] == "failed"
    assert backend.refunds(stuck) == 1
    assert (backend.session_of(busy) or {}).get("status") == "processing"
    assert backend.refunds(busy) == 0
