"""The bridge as `wearon.bootstrap.build_bridge` wires it for `python -m wearon.bridge`, on the real
Redis and each storage backend: an invalid payload whose session can be read is failed through the
store's fail_and_refund, with the owner's one credit back, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import UUID, uuid4

import dramatiq
import pytest
import redis

from tests.conftest import TEST_NAMESPACE, TEST_REDIS_URL
from tests.domain.test_task import raw
from tests.helpers.backends import Backend
from wearon import keys
from wearon.bootstrap import build_bridge
from wearon.bridge.bridge import Bridge
from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel
from wearon.settings import Settings

BALANCE = 3


@pytest.fixture
def bridge(backend: Backend, redis_client: redis.Redis) -> Iterator[Bridge]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=TEST_REDIS_URL,
        dramatiq_namespace=TEST_NAMESPACE,
        bridge_id="wiring-test",
        **backend.settings(),
    )
    before = dramatiq.broker.global_broker
    wired, _ = build_bridge(settings)
    yield wired
    dramatiq.set_broker(before)  # build_bridge declares the process's broker, as the bridge does


def opened_session(backend: Backend, channel: Channel) -> tuple[str, UUID]:
    """An owner with BALANCE credits, one of them spent on a session the API opened."""
    owner, session = str(uuid4()), uuid4()
    backend.set_balance(channel, owner, BALANCE)
    assert backend.open_session(channel, session, owner)
    return owner, session


def invalid_task(channel: Channel, owner: str, session_id: UUID) -> bytes:
    """A task for a real session that the bridge must refuse: a version it does not speak."""
    owners = {"store_id": owner, "user_id": None} if channel is Channel.B2B else {"user_id": owner}
    return raw(channel=channel.value, session_id=str(session_id), version=99, **owners)


@pytest.mark.parametrize("channel", list(Channel))
def test_an_invalid_task_fails_its_session_with_one_credit_back(
    backend: Backend, bridge: Bridge, redis_client: redis.Redis, channel: Channel
) -> None:
    # Given a session the API opened (one of the owner's credits spent) and an invalid task for it
    owner, session = opened_session(backend, channel)
    redis_client.lpush(keys.TASKS, invalid_task(channel, owner, session))
    # When the bridge takes it
    assert bridge.step() == 1
    # Then it is dead-lettered, and the session failed with the owner's credit back
    [letter] = [json.loads(x) for x in redis_client.lrange(keys.DEAD_LETTERS, 0, -1)]
    assert letter["kind"] == "version"
    row = backend.session(channel, session)
    assert row is not None
    assert (row["status"], row["error_message"]) == ("failed", FailureReason.INVALID_TASK.user_message)
    assert backend.balance(channel, owner) == BALANCE
    assert backend.refunds(channel, session) == 1


def test_the_same_invalid_task_twice_refunds_once(
    backend: Backend, bridge: Bridge, redis_client: redis.Redis
) -> None:
    # Given an invalid task delivered twice (the app retried its push, or a bridge re-drove it)
    owner, session = opened_session(backend, Channel.B2C)
    task = invalid_task(Channel.B2C, owner, session)
    redis_client.lpush(keys.TASKS, task, task)
    # When the bridge takes both
    while bridge.step():
        pass
    # Then both are dead-lettered, and the owner got exactly one credit back
    assert redis_client.llen(keys.DEAD_LETTERS) == 2
    assert backend.balance(Channel.B2C, owner) == BALANCE
    assert backend.refunds(Channel.B2C, session) == 1


def test_an_invalid_task_for_an_unknown_session_moves_no_credit(
    backend: Backend, bridge: Bridge, redis_client: redis.Redis
) -> None:
    # Given an owner with a session, and an invalid task naming a session nobody opened
    owner, session = opened_session(backend, Channel.B2C)
    redis_client.lpush(keys.TASKS, invalid_task(Channel.B2C, owner, uuid4()))
    # When the bridge takes it, then it is dead-lettered and nobody's balance moves
    assert bridge.step() == 1
    assert redis_client.llen(keys.DEAD_LETTERS) == 1
    assert backend.balance(Channel.B2C, owner) == BALANCE - 1
    row = backend.session(Channel.B2C, session)
    assert row is not None and row["status"] == "queued"
