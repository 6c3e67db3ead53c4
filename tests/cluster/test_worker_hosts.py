"""A worker host lost for good, or cut off from Redis for a while: the other host takes over its
work, every session ends once, the provider is paid once per task where the host lives on,
refunds = failures."""

from __future__ import annotations

import time
from typing import Any

from tests.cluster.conftest import ClusterStack, started
from tests.helpers import postgres
from tests.helpers.netns import Host
from tests.helpers.processes import Proc, wait_until
from wearon.domain.task import Channel

#: Longer than Dramatiq's heartbeat timeout (15 s): the other host takes the cut host for dead.
CUT_S = 30


def two_worker_hosts(cluster: ClusterStack, threads: int) -> list[tuple[Host, Proc]]:
    """A bridge host and two worker hosts, every process ready for work."""
    started(cluster.bridge_on(cluster.net.host("bridge-a")))
    hosts = [cluster.net.host(name) for name in ("worker-a", "worker-b")]
    return [(host, started(cluster.worker_on(host, threads))) for host in hosts]


def push_work(cluster: ClusterStack, label: str, ok: int, refused: int) -> list[dict[str, Any]]:
    tasks = [cluster.push(Channel.B2C if n % 2 else Channel.B2B, f"{label} {n}") for n in range(ok)]
    return tasks + [cluster.push(Channel.B2C, f"[standin:moderation] {label} {n}") for n in range(refused)]


def assert_ended_once(cluster: ClusterStack, tasks: list[dict[str, Any]]) -> None:
    """Each task completed once, or (refused by the provider) failed with one refund; the owners'
    balances and the app's own refund records agree."""
    refused = [t for t in tasks if "moderation" in t["prompt"]]
    done = [t for t in tasks if t not in refused]
    assert [cluster.status(t) for t in done] == ["completed"] * len(done)
    assert [cluster.completions(t) for t in done] == [1] * len(done)
    assert [cluster.refunds(t) for t in done] == [0] * len(done)
    assert [(cluster.status(t), cluster.refunds(t)) for t in refused] == [("failed", 1)] * len(refused)
    cluster.assert_balances(tasks)
    b2c_owner = cluster.owners[Channel.B2C]
    assert len(postgres.app_refunds(Channel.B2C, b2c_owner)) == len(refused)


def test_a_worker_host_that_disappears_has_its_messages_redelivered_to_the_other(
    cluster: ClusterStack,
) -> None:
    cluster.standin.latency_s = (4.0, 4.0)
    (doomed, _), (survivor, _) = two_worker_hosts(cluster, threads=3)
    tasks = push_work(cluster, "host loss", ok=10, refused=2)
    # Given generations in the provider from the doomed host
    wait_until(lambda: len(cluster.host_calls(doomed)) >= 2, 60, what="calls from the doomed host")
    called = cluster.host_calls(doomed)
    in_flight = [t for t in tasks if t["prompt"] in called and cluster.status(t) == "processing"]
    # When the host disappears: every process on it killed, its link removed
    doomed.kill()
    # Then the other host does its work: its in-flight generations are done again there, and every
    # session ends once, refunds = failures
    cluster.wait_terminal(tasks, timeout=180)
    cluster.wait_quiet()
    assert in_flight, "the doomed host had nothing in flight"
    assert all(t["prompt"] in cluster.host_calls(survivor) for t in in_flight)
    assert_ended_once(cluster, tasks)


def test_a_worker_host_cut_off_from_redis_for_30_s_calls_the_provider_once_per_task(
    cluster: ClusterStack,
) -> None:
    # Longer than the heartbeat timeout, as production's 20-40 s: the other host is handed the
    # messages while the cut host's calls for them are still in the provider
    cluster.standin.latency_s = (25.0, 25.0)
    (cut, cut_worker), _ = two_worker_hosts(cluster, threads=2)
    tasks = push_work(cluster, "redis cut", ok=8, refused=2)
    # Given generations in the provider from the host about to be cut off
    wait_until(lambda: cluster.host_calls(cut), 60, what="calls from the host to cut off")
    # When it is cut off from Redis for longer than the heartbeat timeout, then reconnected
    cut.cut_from(cluster.redis_address)
    time.sleep(CUT_S)  # the outage's length is the scenario itself
    cut.reconnect_to(cluster.redis_address)
    # Then every session ends once, with no second refund
    cluster.wait_terminal(tasks, timeout=180)
    cluster.wait_quiet()
    assert_ended_once(cluster, tasks)
    assert cut_worker.popen.poll() is None, "the reconnected worker died"
    # and with one provider call per task: the other host was handed the cut host's messages (its
    # heartbeat went stale) while the cut host still ran them; their copies found the sessions'
    # leases renewed (through the database, which the cut host still reached) and waited
    assert {t["prompt"]: cluster.calls(t) for t in tasks} == {t["prompt"]: 1 for t in tasks}
