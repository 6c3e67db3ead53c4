"""`python -m wearon.bridge` as a real process: signals, outages, crashes."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import redis

from tests.conftest import TEST_REDIS_URL
from tests.domain.test_task import raw
from tests.helpers.asgi import free_port
from tests.helpers.processes import Proc, python_env, wait_until
from wearon import keys


def bridge(tmp_path: Path, redis_url: str = TEST_REDIS_URL, name: str = "bridge") -> Proc:
    env = python_env(
        REDIS_URL=redis_url,
        DRAMATIQ_NAMESPACE="wearon-test",
        LOCAL_DATA_DIR=str(tmp_path / "data"),
        BRIDGE_METRICS_PORT=str(free_port()),
        BRIDGE_ID="proc-test",
    )
    return Proc(name, [sys.executable, "-m", "wearon.bridge"], env, tmp_path)


def test_sigterm_finishes_and_exits_zero(tmp_path: Path, redis_client: redis.Redis) -> None:
    proc = bridge(tmp_path)
    wait_until(lambda: "bridge started" in proc.output(), 20, what="bridge start")
    redis_client.lpush(keys.TASKS, raw(task_id="before-term"))
    wait_until(lambda: redis_client.llen(keys.TASKS) == 0, 10, what="task taken")
    proc.signal_group(signal.SIGTERM)
    assert proc.popen.wait(15) == 0
    assert redis_client.llen(keys.bridge_processing("proc-test")) == 0
    assert redis_client.llen("wearon-test:generation") == 1  # handed to Dramatiq


def test_redis_down_is_waited_out_without_crashing(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    proc = bridge(tmp_path, redis_url=dead)
    wait_until(lambda: "retrying in 5 s" in proc.output(), 20, what="outage noticed")
    time.sleep(6)
    assert proc.popen.poll() is None  # still alive, waiting
    lines = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    assert 2 <= sum("retrying in 5 s" in line["message"] for line in lines) <= 3  # every 5 s, no tight loop
    assert proc.stop() == 0


def test_a_task_in_flight_when_the_bridge_died_is_enqueued_on_restart(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    # Given a bridge killed after taking a task but before handing it to Dramatiq
    redis_client.lpush(keys.bridge_processing("proc-test"), raw(task_id="orphan"))
    # When a bridge starts
    proc = bridge(tmp_path)
    wait_until(lambda: redis_client.llen("wearon-test:generation") == 1, 20, what="re-drive")
    assert proc.stop() == 0
    # Then the task was enqueued and nothing is left in flight
    assert redis_client.llen(keys.bridge_processing("proc-test")) == 0
    message = json.loads(redis_client.hvals("wearon-test:generation.msgs")[0])
    assert message["args"][0]["task_id"] == "orphan"
