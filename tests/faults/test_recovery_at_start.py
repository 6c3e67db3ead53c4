"""Recovery at start, as the product asks: when the scheduler (`python -m wearon.scheduler`) starts,
the sessions stuck in queued/processing are failed and refunded by a real worker, at once, without
touching one a worker is still on; and the start-up sweep and that minute's tick sweep once."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tests.faults.conftest import FaultStack, started
from tests.helpers.asgi import free_port
from tests.helpers.backends import SupabaseBackend
from tests.helpers.processes import Proc, wait_until
from wearon.domain.session import Lease
from wearon.domain.task import Channel

STUCK_AFTER_S = 900  # STUCK_SESSION_AFTER_S's default


def left_by_a_dead_worker(stack: FaultStack, untouched_for_s: int) -> dict[str, Any]:
    """A session claimed by a message that will never finish it, untouched for that long."""
    backend = stack.backend
    assert isinstance(backend, SupabaseBackend)
    task = stack.task(Channel.B2C, "left behind")
    session = UUID(task["session_id"])
    assert backend.open_session(Channel.B2C, session, task["user_id"], task["prompt"])
    backend.store.claim(Channel.B2C, session, "a-message-long-gone", Lease("a-message-long-gone-attempt"))
    backend.age(Channel.B2C, session, untouched_for_s)
    return task


def scheduler(stack: FaultStack) -> Proc:
    env = {**stack.env(), "SCHEDULER_METRICS_PORT": str(free_port())}
    proc = Proc("scheduler", [sys.executable, "-m", "wearon.scheduler"], env, stack.tmp)
    stack.procs.append(proc)
    return proc


def messages(proc: Proc) -> list[str]:
    """The messages of the JSON lines a process wrote."""
    found = []
    for line in proc.output().splitlines():
        try:
            found.append(str(json.loads(line)["message"]))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def test_sessions_stuck_when_the_scheduler_starts_are_recovered_once(supabase_stack: FaultStack) -> None:
    stack = supabase_stack
    # Given a session a dead worker left processing long ago, and one a live worker is on
    stuck = left_by_a_dead_worker(stack, untouched_for_s=2 * STUCK_AFTER_S)
    busy = left_by_a_dead_worker(stack, untouched_for_s=5)
    worker = started(stack.worker())
    # (not in a minute's last seconds, when periodiq's first tick would fall in the next minute)
    while datetime.now(UTC).second > 50:
        time.sleep(1)
    # When the scheduler starts
    began = time.monotonic()
    sched = scheduler(stack)
    wait_until(lambda: any(m.startswith("start-up sweep for") for m in messages(sched)), 30, what="start")
    minute = next(m for m in messages(sched) if m.startswith("start-up sweep for")).split()[3]
    # Then the stuck session is failed and refunded at once, and the busy one left alone
    stack.wait_terminal([stuck], timeout=30)
    assert time.monotonic() - began < 30
    assert stack.status(stuck) == "failed" and stack.refunds(stuck) == 1
    assert stack.status(busy) == "processing" and stack.refunds(busy) == 0
    stack.assert_balances([stuck, busy])
    # And of the start-up sweep and that minute's tick, one swept and the other found it done
    wait_until(lambda: sum(f" for {minute}" in m for m in messages(worker)) == 2, 30, what="both sweeps")
    ran = [m for m in messages(worker) if f" for {minute}: failed and refunded" in m]
    assert len(ran) == 1 and ran[0].endswith("failed and refunded 1 stuck sessions")
    assert sum(m.startswith(f"start-up sweep for {minute}") for m in messages(worker)) == 1
