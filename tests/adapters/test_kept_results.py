"""Generated images kept until stored, on the real Redis every worker host shares."""

from __future__ import annotations

from uuid import uuid4

import pytest
import redis

from wearon import keys
from wearon.adapters.kept_results import RedisResultKeeper
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError


def test_an_image_is_kept_with_a_ttl_until_dropped(redis_client: redis.Redis) -> None:
    keeper, session = RedisResultKeeper(redis_client, ttl_s=60), uuid4()
    assert keeper.kept(Channel.B2B, session) is None
    keeper.keep(Channel.B2B, session, b"\xff\xd8jpeg")
    assert keeper.kept(Channel.B2B, session) == b"\xff\xd8jpeg"
    assert keeper.kept(Channel.B2C, session) is None  # per channel: the two tables share no ids
    assert 0 < redis_client.ttl(keys.kept_result("b2b", str(session))) <= 60
    keeper.drop(Channel.B2B, session)
    assert keeper.kept(Channel.B2B, session) is None


def test_an_image_over_the_bound_is_not_kept(redis_client: redis.Redis) -> None:
    keeper, session = RedisResultKeeper(redis_client, ttl_s=60, max_bytes=10), uuid4()
    keeper.keep(Channel.B2C, session, b"x" * 11)
    assert keeper.kept(Channel.B2C, session) is None


def test_redis_down_keeps_nothing_but_refuses_to_say_nothing_is_kept() -> None:
    # Keeping is best effort (the upload goes on); reading must not pass for "nothing was paid for"
    keeper = RedisResultKeeper(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), ttl_s=60)
    keeper.keep(Channel.B2C, uuid4(), b"data")
    keeper.drop(Channel.B2C, uuid4())
    with pytest.raises(InfrastructureError):
        keeper.kept(Channel.B2C, uuid4())
