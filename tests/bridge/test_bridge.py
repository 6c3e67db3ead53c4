"""The bridge loop on the real Redis."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

import pytest
import redis
from loguru import logger

from tests.domain.test_task import raw
from wearon import keys
from wearon.bridge.bridge import Bridge
from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel, GenerationTask
from wearon.errors import InfrastructureError

PROCESSING = keys.bridge_processing("test")


class Sink:
    """Collects what the bridge enqueues and refunds; can be told to fail."""

    def __init__(self) -> None:
        self.enqueued: list[GenerationTask] = []
        self.refunds: list[tuple[Channel, UUID, FailureReason]] = []
        self.enqueue_failures = 0
        self.refund_error: Exception | None = None

    def enqueue(self, task: GenerationTask) -> None:
        if self.enqueue_failures:
            self.enqueue_failures -= 1
            raise redis.ConnectionError("broker down")
        self.enqueued.append(task)

    def refund(self, channel: Channel, session_id: UUID, reason: FailureReason) -> bool:
        if self.refund_error:
            raise self.refund_error
        self.refunds.append((channel, session_id, reason))
        return True


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def bridge(redis_client: redis.Redis, sink: Sink) -> Bridge:
    return Bridge(
        redis_client, enqueue=sink.enqueue, refund=sink.refund, bridge_id="test", outage_backoff_s=0.05
    )


def dead_letters(client: redis.Redis) -> list[dict[str, str]]:
    return [json.loads(x) for x in client.lrange(keys.DEAD_LETTERS, 0, -1)]


def test_tasks_are_enqueued_in_push_order_and_leave_no_trace(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink
) -> None:
    for n in range(3):
        redis_client.lpush(keys.TASKS, raw(task_id=f"t{n}"))
    assert bridge.step() == 3
    assert [t.task_id for t in sink.enqueued] == ["t0", "t1", "t2"]
    assert redis_client.llen(keys.TASKS) == 0
    assert redis_client.llen(PROCESSING) == 0


def test_a_burst_is_taken_in_batches(redis_client: redis.Redis, bridge: Bridge, sink: Sink) -> None:
    redis_client.lpush(keys.TASKS, *[raw(task_id=f"t{n}") for n in range(450)])
    while bridge.step():
        pass
    assert [t.task_id for t in sink.enqueued] == [f"t{n}" for n in range(450)]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"{oops", "invalid_json"),
        (raw(version=2), "version"),
        (raw(channel="b2b", store_id=None), "schema"),
        (b"x" * 70_000, "too_large"),
    ],
)
def test_invalid_payloads_are_dead_lettered_with_reason(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink, payload: bytes, kind: str
) -> None:
    redis_client.lpush(keys.TASKS, payload)
    bridge.step()
    [letter] = dead_letters(redis_client)
    assert letter["kind"] == kind
    assert letter["reason"]
    assert letter["at"]
    assert letter["raw"].encode() == payload  # kept whole
    assert sink.enqueued == []
    assert redis_client.llen(PROCESSING) == 0


def test_fields_the_app_added_are_ignored_and_logged_once_per_name(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink
) -> None:
    # Given an app deploy that adds two fields we do not know yet (names unique to this test: the
    # bridge logs each name once per process)
    added, other = f"added_{uuid4().hex[:8]}", f"other_{uuid4().hex[:8]}"
    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    try:
        redis_client.lpush(keys.TASKS, raw(task_id="a", **{added: 1}), raw(task_id="b", **{added: 2}))
        redis_client.lpush(keys.TASKS, raw(task_id="c", **{added: 3, other: "x"}))
        bridge.step()
    finally:
        logger.remove(sink_id)
    # Then every task is enqueued, and each new name is logged once
    assert [t.task_id for t in sink.enqueued] == ["a", "b", "c"]
    assert dead_letters(redis_client) == []
    assert sum(added in line for line in lines) == 1
    assert sum(other in line for line in lines) == 1


@pytest.mark.parametrize("owner", ["..", "a/b", "a%2F..", "a?b", "a#b", "a\\b", "a\x01b"])
def test_an_owner_id_unfit_for_a_storage_path_is_dead_lettered_before_any_work(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink, owner: str
) -> None:
    session = uuid4()
    redis_client.lpush(keys.TASKS, raw(user_id=owner, session_id=str(session)))
    bridge.step()
    [letter] = dead_letters(redis_client)
    assert (letter["kind"], "user_id" in letter["reason"]) == ("schema", True)
    assert sink.enqueued == []  # never reaches a worker, so never the provider
    assert [(c, s) for c, s, _ in sink.refunds] == [(Channel.B2C, session)]


def test_binary_garbage_is_kept_as_base64(redis_client: redis.Redis, bridge: Bridge) -> None:
    redis_client.lpush(keys.TASKS, b"\xff\x00\xfe")
    bridge.step()
    [letter] = dead_letters(redis_client)
    assert letter["raw_b64"] == "/wD+"


def test_an_invalid_task_with_a_readable_session_is_refunded(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink
) -> None:
    session = uuid4()
    redis_client.lpush(keys.TASKS, raw(channel="b2b", store_id=None, session_id=str(session)))
    bridge.step()
    assert [(c, s) for c, s, _ in sink.refunds] == [(Channel.B2B, session)]
    assert sink.refunds[0][2] is FailureReason.INVALID_TASK


def test_refund_failure_still_dead_letters(redis_client: redis.Redis, bridge: Bridge, sink: Sink) -> None:
    sink.refund_error = InfrastructureError("database down")
    redis_client.lpush(keys.TASKS, raw(version=3))
    bridge.step()
    assert len(dead_letters(redis_client)) == 1


def test_tasks_left_in_flight_by_a_crash_are_redriven(
    redis_client: redis.Redis, bridge: Bridge, sink: Sink
) -> None:
    # Given a previous bridge took two tasks and died before enqueuing them
    redis_client.lpush(keys.TASKS, raw(task_id="a"), raw(task_id="b"))
    redis_client.lmove(keys.TASKS, PROCESSING, "RIGHT", "LEFT")
    redis_client.lmove(keys.TASKS, PROCESSING, "RIGHT", "LEFT")
    # When a bridge starts
    assert bridge.redrive() == 2
    # Then both are enqueued, oldest first, and nothing is left behind
    assert [t.task_id for t in sink.enqueued] == ["a", "b"]
    assert redis_client.llen(PROCESSING) == 0


def test_an_outage_loses_nothing(redis_client: redis.Redis, bridge: Bridge, sink: Sink) -> None:
    # Given the broker fails the first two enqueues
    sink.enqueue_failures = 2
    redis_client.lpush(keys.TASKS, raw(task_id="x"), raw(task_id="y"))
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    # When the bridge has retried past the outage
    deadline = threading.Event()
    for _ in range(100):
        if len(sink.enqueued) == 2:
            break
        deadline.wait(0.05)
    stop.set()
    thread.join(timeout=5)
    # Then both tasks got through exactly once and nothing is stranded
    assert sorted(t.task_id for t in sink.enqueued) == ["x", "y"]
    assert redis_client.llen(PROCESSING) == 0
    assert not thread.is_alive()


def test_a_batch_whose_send_fails_is_kept_and_redriven(redis_client: redis.Redis, sink: Sink) -> None:
    # Given the broker's batched send fails once, after the tasks were handed to it
    failures = [redis.ConnectionError("pipeline lost")]

    @contextmanager
    def batch() -> Iterator[None]:
        yield
        if failures:
            raise failures.pop()

    bridge = Bridge(redis_client, enqueue=sink.enqueue, refund=sink.refund, bridge_id="test", batch=batch)
    redis_client.lpush(keys.TASKS, raw(task_id="a"), raw(task_id="b"))
    with pytest.raises(redis.ConnectionError):
        bridge.step()
    # Then nothing left the processing list, and the re-drive sends both
    assert redis_client.llen(PROCESSING) == 2
    assert bridge.redrive() == 2
    assert [t.task_id for t in sink.enqueued][-2:] == ["a", "b"]
    assert redis_client.llen(PROCESSING) == 0
