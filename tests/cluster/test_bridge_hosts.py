"""Two bridges on two hosts: each has an in-flight list of its own, named after its host; a bridge
that dies with tasks in it has them re-driven by its restart on that host, never by the other."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import ClusterStack, started
from tests.helpers.processes import Proc
from wearon import keys
from wearon.domain.task import Channel

REDRIVEN = "re-drove {} tasks left in flight by a previous run"


def bridge_id(proc: Proc) -> Any:
    started_line = next(r for r in proc.records() if r.get("message") == "bridge started")
    return started_line.get("extra", {}).get("bridge_id")


def test_a_dead_bridge_hosts_tasks_are_redriven_by_its_restart_never_by_the_other(
    cluster: ClusterStack,
) -> None:
    started(cluster.worker_on(cluster.net.host("worker-a")))
    host_a, host_b = cluster.net.host("bridge-a"), cluster.net.host("bridge-b")
    bridges = [started(cluster.bridge_on(host_a)), started(cluster.bridge_on(host_b))]
    assert [bridge_id(b) for b in bridges] == ["bridge-a", "bridge-b"]
    # Given bridge A's host gone, with tasks its BLMOVE had moved onto its in-flight list
    host_a.kill()
    in_flight = keys.bridge_processing("bridge-a")
    lost = [cluster.push(Channel.B2C, f"in flight on a {n}", onto=in_flight) for n in range(3)]
    # When bridge B restarts (re-driving its own leftovers) and moves a new task
    bridges[1].stop()
    restarted_b = started(cluster.bridge_on(host_b))
    canary = cluster.push(Channel.B2B, "after b's restart")
    cluster.wait_terminal([canary], timeout=60)
    # Then A's tasks were left alone
    assert cluster.redis.llen(in_flight) == 3
    assert [cluster.calls(t) for t in lost] == [0, 0, 0]
    # and when A's host comes back under its name, its bridge re-drives them, each once
    restarted_a = started(cluster.bridge_on(cluster.net.host("bridge-a")))
    cluster.wait_terminal(lost, timeout=60)
    cluster.wait_quiet()
    assert [cluster.status(t) for t in lost] == ["completed"] * 3
    assert [cluster.calls(t) for t in lost] == [1, 1, 1]
    assert cluster.redis.llen(in_flight) == 0
    assert REDRIVEN.format(3) in restarted_a.messages()
    assert not any(m.startswith("re-drove") for b in (bridges[1], restarted_b) for m in b.messages())
    cluster.assert_balances([*lost, canary])
