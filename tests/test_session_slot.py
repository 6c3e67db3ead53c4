"""This test session's isolation (tests/conftest.py): the slot whose Redis and PostgreSQL databases
it uses is held by this very process, not inherited from another test process (an xdist controller,
a parallel group)."""

from __future__ import annotations

import os

import redis

from tests import conftest


def test_this_session_holds_its_own_slot(redis_client: redis.Redis) -> None:
    slot = int(os.environ["WEARON_TEST_SLOT"])
    assert conftest.TEST_REDIS_URL.endswith(f"/{slot}")
    assert conftest.TEST_PG_DSN.endswith(f"wearon_test_{slot}")
    assert redis_client.get(conftest.LOCK_KEY) == str(os.getpid()).encode()
    assert os.environ["REDIS_URL"] == conftest.TEST_REDIS_URL  # for the processes tests start
