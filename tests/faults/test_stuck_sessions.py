"""The stuck-session sweep end to end: a real worker runs `sweep_stuck_sessions` off the maintenance
queue, on the real broker, Redis (its per-minute lock) and PostgreSQL behind the Supabase stand-in (the
contract's wearon_sweep_stuck), and counts what it swept on its metrics port.

The sweep messages are sent as periodiq's scheduler sends them (a `scheduled_at` option); two
schedulers whose clocks differ send two for the same minute.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
import pendulum
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.conftest import START_BALANCE, FaultStack, started
from tests.helpers.processes import Proc, wait_until
from tests.helpers.readme import documented_seconds
from wearon import keys
from wearon.actors.maintenance import minute_of
from wearon.bootstrap import Messaging
from wearon.domain.task import Channel

#: The setting the first test runs the worker with (not the default, so that using it shows).
STUCK_AFTER_S = 600


class Sweeps:
    """A real worker on a Supabase fault stack: sends it sweeps as schedulers do, and reads what
    they did to the sessions, the owners' balances and the worker's count."""

    def __init__(self, stack: FaultStack, messaging: Messaging, worker: Proc) -> None:
        self.stack, self.worker = stack, worker
        self.actor = messaging.actors.sweep_stuck_sessions
        # A minute that has at least 15 s left (periodiq skips a message older than 30 s; one
        # scheduled a little ahead runs at once).
        now = pendulum.now("UTC").replace(microsecond=0)
        self.minute = now if now.second < 45 else now.add(seconds=60 - now.second)

    def send(self, scheduled_at: pendulum.DateTime) -> None:
        before = self._processed()
        self.actor.send_with_options(scheduled_at=str(scheduled_at))
        wait_until(lambda: self._processed() > before, 30, what="the sweep message processed")

    def _processed(self) -> float:
        """Sweep messages the worker has processed (Dramatiq's own count, on either broker)."""
        return self._metric("dramatiq_message_duration_milliseconds_count", actor_name="sweep_stuck_sessions")

    def open_session(self, channel: Channel, idle_s: int) -> UUID:
        """A session the API opened (its credit spent) whose task was lost, untouched for `idle_s`."""
        session = uuid4()
        assert self.stack.backend.open_session(channel, session, self.stack.owners[channel], "lost task")
        self.stack.backend.age(channel, session, idle_s)
        return session

    def state(self, channel: Channel, session: UUID) -> tuple[str, int]:
        """The session's status and its owner's balance."""
        row = self.stack.backend.session(channel, session)
        assert row is not None
        return str(row["status"]), self.stack.backend.balance(channel, self.stack.owners[channel])

    def swept_total(self) -> float:
        """wearon_stuck_sessions_swept_total, as the worker serves it."""
        return self._metric("wearon_stuck_sessions_swept_total")

    def _metric(self, name: str, **labels: str) -> float:
        assert self.worker.ready is not None
        url = f"http://127.0.0.1:{self.worker.ready.metrics_port}/metrics"
        samples = [
            s for f in text_string_to_metric_families(httpx.get(url, timeout=5).text) for s in f.samples
        ]
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_the_sweep_fails_and_refunds_past_its_setting_once_a_minute(
    supabase_stack: FaultStack, messaging: Messaging
) -> None:
    # Given a worker told that 600 s means stuck, a session idle past that and one not yet
    supabase_stack.extra_env = {"STUCK_SESSION_AFTER_S": str(STUCK_AFTER_S)}
    sweeps = Sweeps(supabase_stack, messaging, started(supabase_stack.worker()))
    stuck = sweeps.open_session(Channel.B2C, idle_s=STUCK_AFTER_S + 100)
    later = sweeps.open_session(Channel.B2B, idle_s=STUCK_AFTER_S - 100)
    # When a scheduler's sweep for this minute runs
    sweeps.send(sweeps.minute)
    # Then the stuck one is failed with exactly its one credit back, and counted; the other is left
    assert sweeps.state(Channel.B2C, stuck) == ("failed", START_BALANCE)
    assert sweeps.state(Channel.B2B, later) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
    assert supabase_stack.redis.ttl(keys.sweep_lock(minute_of(sweeps.minute))) > 0
    # When the second session is stuck too, and a second scheduler (its clock 1 s ahead) sends
    # the same minute's sweep
    supabase_stack.backend.age(Channel.B2B, later, STUCK_AFTER_S + 100)
    sweeps.send(sweeps.minute.add(seconds=1))
    # Then that minute's sweep does not run again
    already = f"sweep for {minute_of(sweeps.minute)}: the sweep of this minute already ran"
    assert already in sweeps.worker.messages()
    assert sweeps.state(Channel.B2B, later) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
    # And the next minute's does, refunding it once; the first session is not refunded again
    sweeps.send(sweeps.minute.add(seconds=60))
    assert sweeps.state(Channel.B2B, later) == ("failed", START_BALANCE)
    assert sweeps.state(Channel.B2C, stuck) == ("failed", START_BALANCE)
    assert sweeps.swept_total() == 2


def test_by_default_stuck_means_the_readmes_threshold(
    supabase_stack: FaultStack, messaging: Messaging
) -> None:
    # Given a worker on the default setting (the README's number), and sessions idle a minute
    # longer and a minute shorter than that
    threshold_s = documented_seconds("STUCK_SESSION_AFTER_S")
    sweeps = Sweeps(supabase_stack, messaging, started(supabase_stack.worker()))
    stuck = sweeps.open_session(Channel.B2C, idle_s=threshold_s + 60)
    not_yet = sweeps.open_session(Channel.B2B, idle_s=threshold_s - 60)
    # When the sweep runs, then only the first is failed and refunded
    sweeps.send(sweeps.minute)
    assert sweeps.state(Channel.B2C, stuck) == ("failed", START_BALANCE)
    assert sweeps.state(Channel.B2B, not_yet) == ("queued", START_BALANCE - 1)
    assert sweeps.swept_total() == 1
