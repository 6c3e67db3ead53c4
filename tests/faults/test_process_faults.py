"""Faults with real processes: killed and stopped workers, a killed bridge, the provider hanging."""

from __future__ import annotations

import json
import signal
import socket
import time
from urllib.parse import urlsplit
from uuid import UUID

from tests.conftest import ON_RABBITMQ
from tests.faults.conftest import FaultStack, started
from tests.helpers.processes import wait_until
from wearon import keys
from wearon.actors.broker import HEARTBEAT_TIMEOUT_MS
from wearon.domain.task import Channel

#: The bridges here run with BRIDGE_ID unset: each names its in-flight list after its host.
THIS_HOST = socket.gethostname()


def test_kill_9_of_a_worker_mid_generation_is_redelivered_and_completes(stack: FaultStack) -> None:
    stack.standin.latency_s = (3.0, 3.0)
    started(stack.bridge())
    doomed = started(stack.worker("doomed"))
    # Given a generation in the provider on the doomed worker
    task = stack.push(Channel.B2C, "survive a kill")
    wait_until(lambda: stack.calls(task) == 1, 20, what="provider call")
    # When that worker dies without a word
    doomed.signal_group(signal.SIGKILL)
    doomed.popen.wait(10)
    # Then another worker takes the message over and completes the session, once, with no refund
    started(stack.worker("rescuer"))
    stack.wait_terminal([task], timeout=60)
    assert stack.status(task) == "completed"
    assert stack.refunds(task) == 0
    stack.assert_balances([task])


def test_a_live_busy_worker_is_not_mistaken_for_dead(stack: FaultStack) -> None:
    # Given a generation in the provider on a busy worker (its only thread)
    started(stack.bridge())
    started(stack.worker("busy", threads=1))
    task = stack.push(Channel.B2C, "[standin:held] long generation")
    wait_until(lambda: stack.calls(task) == 1, 20, what="provider call")
    # and a second, idle worker on the same queues: the one that would take a dead worker's message
    before = {} if ON_RABBITMQ else stack.heartbeats()
    idle = started(stack.worker("idle"))
    # When the generation lasts longer than the heartbeat timeout
    watch_idle_worker(stack, before, until=time.monotonic() + HEARTBEAT_TIMEOUT_MS / 1000 + 5)
    stack.standin.release.set()
    # Then the busy worker completes it, and it was never redelivered to the idle one
    stack.wait_terminal([task], timeout=60)
    assert stack.status(task) == "completed"
    assert stack.calls(task) == 1
    assert stack.refunds(task) == 0
    assert idle.popen.poll() is None
    stack.assert_balances([task])


def watch_idle_worker(stack: FaultStack, before: dict[str, float], until: float) -> None:
    """Until then, the idle worker polls all along (Dramatiq's Redis broker: its heartbeats; on
    RabbitMQ the server holds a message until its consumer's connection closes, and we wait)."""
    if ON_RABBITMQ:
        time.sleep(max(until - time.monotonic(), 0))
        return
    idle_ids = stack.heartbeats().keys() - before.keys()
    assert idle_ids, "the idle worker never reached the broker"
    while time.monotonic() < until:
        beats, now_ms = stack.heartbeats(), time.time() * 1000
        assert any(now_ms - beats.get(worker, 0) < 3000 for worker in idle_ids), "the idle worker went quiet"
        time.sleep(0.5)


def test_sigterm_finishes_the_task_in_hand_and_returns_the_prefetched(stack: FaultStack) -> None:
    stack.standin.latency_s = (3.0, 3.0)
    started(stack.bridge())
    first = started(stack.worker("deploy-old", threads=1))
    tasks = [stack.push(Channel.B2B, f"deploy {n}") for n in range(4)]
    wait_until(lambda: any(stack.calls(t) for t in tasks), 20, what="first provider call")
    # When the worker is told to stop mid-generation (a deploy)
    # to Dramatiq's main process only, as tini delivers it in the container; it forwards it
    first.popen.send_signal(signal.SIGTERM)
    assert first.popen.wait(60) == 0
    in_hand = [t for t in tasks if stack.calls(t)]
    assert [stack.status(t) for t in in_hand] == ["completed"] * len(in_hand)
    # Then the rest went back to the queue and the next worker does them, each once
    started(stack.worker("deploy-new"))
    stack.wait_terminal(tasks, timeout=60)
    assert [stack.status(t) for t in tasks] == ["completed"] * 4
    assert [stack.calls(t) for t in tasks] == [1] * 4
    stack.assert_balances(tasks)  # each paid once, none refunded


def test_kill_9_of_the_bridge_between_taking_and_enqueuing(stack: FaultStack) -> None:
    from tests.helpers.processes import TcpProxy

    # Given a bridge whose broker is unreachable: it takes the task, then cannot hand it over
    # (this session's broker, behind the proxy: never another session's)
    port = urlsplit(stack.broker_url).port
    proxy = TcpProxy(port or 0)
    proxy.cut()
    stack.extra_env = {"BROKER_URL": stack.broker_url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}")}
    doomed = started(stack.bridge("doomed-bridge"))
    task = stack.push(Channel.B2C, "bridge crash")
    processing = keys.bridge_processing(THIS_HOST)
    wait_until(lambda: stack.redis.llen(processing) == 1, 20, what="task taken")
    # When it is killed in that state
    doomed.signal_group(signal.SIGKILL)
    doomed.popen.wait(10)
    # Then a new bridge (broker reachable again) re-drives it, and it is processed
    stack.extra_env = {}
    started(stack.bridge("new-bridge"))
    started(stack.worker())
    stack.wait_terminal([task], timeout=30)
    assert stack.status(task) == "completed"
    assert stack.redis.llen(processing) == 0
    stack.assert_balances([task])  # the re-driven duplicate paid nothing, refunded nothing


def test_a_hanging_provider_hits_the_time_limit_and_is_refunded(stack: FaultStack) -> None:
    # The 300 s limit shortened to 3 s: Dramatiq's TimeLimit must be armed in our booted worker
    stack.extra_env = {"TASK_TIME_LIMIT_S": "3"}
    started(stack.bridge())
    worker = started(stack.worker())
    task = stack.push(Channel.B2C, "[standin:drip] hang")
    stack.wait_terminal([task], timeout=30)
    assert stack.status(task) == "failed"
    assert stack.refunds(task) == 1
    stack.assert_balances([task])
    assert "time_limit" in worker.output()


def test_poison_payloads_are_dead_lettered_and_the_bridge_goes_on(stack: FaultStack) -> None:
    bridge = started(stack.bridge())
    started(stack.worker())
    # Given an invalid task whose session is open (a credit spent), to be failed and refunded
    invalid = stack.task(Channel.B2C, "invalid") | {"version": 2}
    assert stack.backend.open_session(Channel.B2C, UUID(invalid["session_id"]), invalid["user_id"], "invalid")
    # When poison payloads come first: deep nesting under the size cap (the parser decodes it) and
    # over it (the session salvage does), then the invalid task, then a valid one
    poison = [b"[" * 1000 + b"]" * 1000, b'{"channel": "b2c", "x": ' + b"[" * 40_000 + b"]" * 40_000 + b"}"]
    stack.redis.lpush(keys.TASKS, *poison, json.dumps(invalid))
    task = stack.push(Channel.B2C, "after the poison")
    # Then the valid task completes, the bridge still runs, and the invalid one was refunded
    stack.wait_terminal([task, invalid], timeout=30)
    assert stack.status(task) == "completed"
    assert (stack.status(invalid), stack.refunds(invalid)) == ("failed", 1)
    stack.assert_balances([task, invalid])  # the credit is back, once
    assert bridge.popen.poll() is None
    dead = [json.loads(x)["kind"] for x in stack.redis.lrange(keys.DEAD_LETTERS, 0, -1)]
    assert sorted(dead) == ["invalid_json", "too_large", "version"]
    assert stack.redis.llen(keys.bridge_processing(THIS_HOST)) == 0
