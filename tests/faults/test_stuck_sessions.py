"""The stuck-session sweep end to end: a real worker runs `sweep_stuck_sessions` off the maintenance
queue, on the real Redis (its per-minute lock) and PostgreSQL behind the Supabase stand-in (the
contract's wearon_sweep_stuck), and counts what it swept on its metrics port.

The sweep messages are sent as periodiq's scheduler sends them (a `scheduled_at` option); two
schedulers whose clocks differ send two for the same minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pendulum
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.conftest import NAMESPACE, START_BALANCE, FaultStack, started
from tests.helpers.backends import supabase_backend
from tests.helpers.postgres import build_test_database
from tests.helpers.processes import Proc, wait_until
from tests.helpers.readme import documented_seconds
from tests.standins.openai import OpenAIStandIn
from wearon import keys
from wearon.actors.maintenance import minute_of
from wearon.bootstrap import Messaging
from wearon.domain.task import Channel

#: The setting the first test runs the worker with (not the default, so that using it shows).
STUCK_AFTER_S = 600


@pytest.fixture
def stack(
    tmp_path: Path, standin: OpenAIStandIn, images_url: str, redis_client: redis.Redis
) -> Iterator[FaultStack]:
    build_test_database()
    with supabase_backend() as backend:
        fault_stack = FaultStack(tmp_path, standin, images_url, backend)
        try:
            yield fault_stack
        finally:
            fault_stack.stop()


class Sweeps:
    """Sends sweep messages as schedulers do, and watches the worker run them."""

    def __init__(self, stack: FaultStack, messaging: Messaging, worker: Proc) -> None:
        self.stack, self.worker = stack, worker
        self.actor = messaging.actors.sweep_stuck_sessions
        self.metrics_port = worker.ready.metrics_port if worker.ready else None
        # A minute that has at least 15 s left (periodiq skips a message older than 30 s; one
        # scheduled a little ahead runs at once).
        now = pendulum.now("UTC").replace(microsecond=0)
        self.minute = now if now.second < 45 else now.add(seconds=60 - now.second)

    def send(self, scheduled_at: pendulum.DateTime) -> None:
        self.actor.send_with_options(scheduled_at=str(scheduled_at))
        wait_until(self._drained, 30, what="the sweep message processed")

    def _drained(self) -> bool:
        return self.stack.redis.hlen(f"{NAMESPACE}:maintenance.msgs") == 0

    def swept_total(self) -> float:
        """wearon_stuck_sessions_swept_total, as the worker serves it."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        return sum(s.value for s in samples if s.name == "wearon_stuck_sessions_swept_total")


def open_session(stack: FaultStack, channel: Channel, idle_s: int) -> UUID:
    """A session the API opened (its credit spent) whose task was lost, untouched for `idle_s`."""
    session = uuid4()
    assert stack.backend.open_session(channel, session, stack.owners[channel], "lost task")
    stack.backend.age(channel, session, idle_s)
    return session


def status(stack: FaultStack, channel: Channel, session: UUID) -> str:
    row = stack.backend.session(channel, session)
    assert row is not None
    return str(row["status"])


def balance(stack: FaultStack, channel: Channel) -> int:
    return stack.backend.balance(channel, stack.owners[channel])


def test_the_sweep_fails_and_refunds_past_its_setting_once_a_minute(
    stack: FaultStack, messaging: Messaging
) -> None:
    # Given a worker told that 600 s means stuck, a session idle past that and one not yet
    stack.extra_env = {"STUCK_SESSION_AFTER_S": str(STUCK_AFTER_S)}
    sweeps = Sweeps(stack, messaging, started(stack.worker()))
    stuck = open_session(stack, Channel.B2C, idle_s=STUCK_AFTER_S + 100)
    later = open_session(stack, Channel.B2B, idle_s=STUCK_AFTER_S - 100)
    # When a scheduler's sweep for this minute runs
    sweeps.send(sweeps.minute)
    # Then the stuck one is failed with exactly its one credit back, and counted; the other is left
    assert status(stack, Channel.B2C, stuck) == "failed"
    assert balance(stack, Channel.B2C) == START_BALANCE
    assert (status(stack, Channel.B2B, later), balance(stack, Channel.B2B)) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
    assert stack.redis.ttl(keys.sweep_lock(minute_of(sweeps.minute))) > 0
    # When the second session is stuck too, and a second scheduler (its clock 1 s ahead) sends
    # the same minute's sweep
    stack.backend.age(Channel.B2B, later, STUCK_AFTER_S + 100)
    sweeps.send(sweeps.minute.add(seconds=1))
    # Then that minute's sweep does not run again
    already = f"sweep for {minute_of(sweeps.minute)}: the sweep of this minute already ran"
    assert already in sweeps.worker.messages()
    assert (status(stack, Channel.B2B, later), balance(stack, Channel.B2B)) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
    # And the next minute's does, refunding it once; the first session is not refunded again
    sweeps.send(sweeps.minute.add(seconds=60))
    assert (status(stack, Channel.B2B, later), balance(stack, Channel.B2B)) == ("failed", START_BALANCE)
    assert balance(stack, Channel.B2C) == START_BALANCE
    assert sweeps.swept_total() == 2


def test_by_default_stuck_means_the_readmes_threshold(stack: FaultStack, messaging: Messaging) -> None:
    # Given a worker on the default setting (the README's number), and sessions idle a minute
    # longer and a minute shorter than that
    threshold_s = documented_seconds("STUCK_SESSION_AFTER_S")
    sweeps = Sweeps(stack, messaging, started(stack.worker()))
    stuck = open_session(stack, Channel.B2C, idle_s=threshold_s + 60)
    not_yet = open_session(stack, Channel.B2B, idle_s=threshold_s - 60)
    # When the sweep runs, then only the first is failed and refunded
    sweeps.send(sweeps.minute)
    assert (status(stack, Channel.B2C, stuck), balance(stack, Channel.B2C)) == ("failed", START_BALANCE)
    assert (status(stack, Channel.B2B, not_yet), balance(stack, Channel.B2B)) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
