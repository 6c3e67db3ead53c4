"""`wearon-admin queues` and `intake pause|resume`, with a real bridge on the real Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import redis

from tests.actors.conftest import Backend, Pipeline
from tests.admin.conftest import AdminCli, Failures, bridge_for
from tests.domain.test_task import raw
from wearon import keys
from wearon.bridge.bridge import Bridge
from wearon.domain.task import Channel


def test_queues_shows_depths_ages_in_flight_and_dead(
    wearon_admin: AdminCli, failures: Failures, redis_client: redis.Redis
) -> None:
    # Given two tasks waiting (the oldest an hour old) and one task in a bridge's hands
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    redis_client.lpush(keys.TASKS, raw(created_at=an_hour_ago), raw())
    redis_client.lpush(keys.bridge_processing("eu-1"), raw())
    report = wearon_admin.json("queues")
    assert report["tasks"]["depth"] == 2 and 3590 < report["tasks"]["oldest_age_s"] < 3700
    assert report["in_flight_per_bridge"] == {"eu-1": 1, "admin-test": 0} or report[
        "in_flight_per_bridge"
    ] == {"eu-1": 1}
    assert report["bridge_dead_letters"] == 1 and report["intake_paused"] is False
    generation = report["dramatiq"]["generation"]
    assert generation["dead"] == 2 and generation["waiting"] == 0 and generation["delayed"] == 0
    assert "depth: 2" in wearon_admin.run("queues").output


def test_intake_paused_leaves_tasks_on_the_list_until_resumed(
    wearon_admin: AdminCli, pipeline: Pipeline, backend: Backend, redis_client: redis.Redis
) -> None:
    # Given intake paused, and a bridge running
    assert wearon_admin.run("intake", "pause", "--yes").output == "intake paused: tasks wait on the list\n"
    assert wearon_admin.json("queues")["intake_paused"] is True
    bridge = bridge_for(redis_client, backend, pipeline.broker, kind=CountingBridge)
    assert isinstance(bridge, CountingBridge)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    try:
        # When tasks arrive and the bridge has looked at the switch twice since
        task = pipeline.task(Channel.B2C, "waits out a pause")
        backend.open_session(task, Pipeline.START_BALANCE)
        redis_client.lpush(keys.TASKS, raw(**task))
        seen = bridge.looks
        pipeline.wait_for(lambda: bridge.looks >= seen + 2)
        # Then they are still on the list
        assert redis_client.llen(keys.TASKS) == 1
        # And once resumed, they are taken and completed
        assert wearon_admin.run("intake", "resume", "--yes").output == "intake resumed\n"
        assert pipeline.wait_terminal(task)["status"] == "completed"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert wearon_admin.run("intake", "resume", "--yes").output == "intake was not paused\n"


class CountingBridge(Bridge):
    """Counts how often it looked at the intake switch: the test's readiness signal."""

    looks = 0

    def paused(self) -> bool:
        self.looks += 1
        return super().paused()
