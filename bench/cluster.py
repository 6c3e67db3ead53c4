"""`make bench-cluster`: the pipeline across hosts, each a network namespace on this machine
(tests/helpers/netns.py; run as root).

  data        Redis and the Supabase stand-in (PostgreSQL database `wearon_bench_cluster` behind it)
  bridge      the bridge and the scheduler
  worker-a/b  scripts/worker, 2 processes x 128 threads each
  gateway     this process: the OpenAI stand-in (its own process), the image server; with
              `--broker rabbitmq`, a forwarder to RabbitMQ on 127.0.0.1:5672 (vhost wearon-bench)

Pushes --per-minute tasks (600) at a provider limit of --limit (600/min) with provider latency
20-40 s for --minutes (5), and prints completed per minute in the steady state, the provider's
busiest 60 s and queue -> completed (also written to bench/results/cluster.md, one table per
broker). The rate limiter is shared through Redis whichever broker carries the messages.
Shares the Redis-free parts of bench/pipeline.py (the database, the tasks, the measures).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# A database of its own, so that `make bench` at the same time does not drop it (read on import).
os.environ.setdefault("BENCH_DATABASE", "wearon_bench_cluster")

from bench.pipeline import (  # noqa: E402
    DATABASE,
    PROCESSES,
    Row,
    Stack,
    drive,
    env_for,
    fresh_database,
    outcome_rows,
    previous_tables,
    table,
)
from tests.helpers.asgi import free_port, serve  # noqa: E402
from tests.helpers.hosts import start_data_host  # noqa: E402
from tests.helpers.images import image_app  # noqa: E402
from tests.helpers.netns import Host, Network, network  # noqa: E402
from tests.helpers.processes import (  # noqa: E402
    BRIDGE_READY,
    WORKER_READY,
    Proc,
    Ready,
    TcpProxy,
    answers,
    python_env,
    wait_ready,
    wait_until,
)

RESULTS = ROOT / "bench" / "results" / "cluster.md"
RABBITMQ_PORT = 5672
VHOST = os.environ.get("BENCH_RABBITMQ_VHOST", "wearon-bench")
WORKER_HOSTS = ("worker-a", "worker-b")
LATENCY = (20.0, 40.0)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """An empty vhost of this bench's on the machine's RabbitMQ, deleted afterwards."""
    subprocess.run(
        ["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True, timeout=120, check=False
    )
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    try:
        yield VHOST
    finally:
        rabbitmqctl("delete_vhost", VHOST)


def broker_url(broker: str, net: Network, stack: ExitStack) -> str:
    """The hosts' BROKER_URL: empty (Redis's) or RabbitMQ through a forwarder on the gateway, which
    RabbitMQ sees as a loopback client (its guest user may only log in from there)."""
    if broker == "redis":
        return ""
    vhost = stack.enter_context(rabbit_vhost())
    proxy = TcpProxy(RABBITMQ_PORT, host=net.gateway)
    stack.callback(proxy.cut)
    return f"amqp://guest:guest@{net.gateway}:{proxy.port}/{vhost}"


def host_env(base: dict[str, str], data_dir: Path, host: Host) -> dict[str, str]:
    """A host's processes write their metrics where only that host's do (scripts/worker empties it)."""
    metrics = data_dir / f"prometheus-{host.name}"
    metrics.mkdir(exist_ok=True)
    return base | {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}


def start_on(host: Host, name: str, argv: list[str], env: dict[str, str], logs: Path, ready: Ready) -> Proc:
    ready = Ready(ready.line, ready.count, ready.metrics_port, metrics_host=host.address)
    return host.start(name, argv, env, logs, ready)


@contextmanager
def cluster(rate_limit: int, broker: str) -> Iterator[Stack]:
    """The pipeline on its hosts, every process ready for work."""
    fresh_database()
    data_dir = Path(tempfile.mkdtemp(prefix="wearon-bench-cluster-"))
    logs = data_dir / "logs"
    logs.mkdir()
    with network() as net, ExitStack() as stack:
        data = start_data_host(net, logs, DATABASE)
        standin_port = free_port()
        standin_url = f"http://{net.gateway}:{standin_port}"
        openai = ["-m", "tests.standins.openai", "--host", net.gateway, "--port", str(standin_port)]
        standin = Proc(
            "openai", [sys.executable, *openai, "--latency", *map(str, LATENCY)], python_env(), logs
        )
        stack.callback(standin.stop)
        images_url = stack.enter_context(serve(image_app(), host=net.gateway))
        env = env_for(data_dir, standin_url, data.supabase_url, rate_limit)
        env |= {"REDIS_URL": data.redis_url, "BROKER_URL": broker_url(broker, net, stack)}
        # The bridge is named after its host, as in production.
        env |= {"DOWNLOAD_ALLOWED_HOSTS": net.gateway, "BRIDGE_ID": ""}
        # INFO: the lines that say a bridge or a worker is ready for work (a few lines per task).
        env |= {"LOG_LEVEL": "INFO"}
        procs = start_pipeline(net, env, data_dir, logs)
        wait_until(lambda: answers(standin_port, "/_standin/stats", net.gateway), 60, what="openai stand-in")
        yield Stack(
            data_dir, standin_url, images_url, {n: p.popen for n, p in procs.items()}, _redis(data.redis_url)
        )


def start_pipeline(net: Network, env: dict[str, str], data_dir: Path, logs: Path) -> dict[str, Proc]:
    """The bridge (and the scheduler) on their host, the workers on theirs; once all are ready."""
    bridge_host = net.host("bridge")
    env = host_env(env, data_dir, bridge_host)
    bridge_ready = Ready(BRIDGE_READY, metrics_port=int(env["BRIDGE_METRICS_PORT"]))
    procs = {
        "bridge": start_on(
            bridge_host, "bridge", [sys.executable, "-m", "wearon.bridge"], env, logs, bridge_ready
        ),
        "scheduler": bridge_host.start("scheduler", [sys.executable, "-m", "wearon.scheduler"], env, logs),
    }
    for name in WORKER_HOSTS:
        host = net.host(name)
        worker_env = host_env(env, data_dir, host) | {"dramatiq_prom_port": str(free_port())}
        ready = Ready(WORKER_READY, count=PROCESSES, metrics_port=int(worker_env["dramatiq_prom_port"]))
        procs[f"worker-{name}"] = start_on(
            host, name, [str(ROOT / "scripts" / "worker")], worker_env, logs, ready
        )
    for proc in procs.values():
        if proc.ready is not None:
            wait_ready(proc, timeout=180)
    return procs


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10)


def measure(minutes: float, per_minute: float, limit: int, broker: str) -> list[Row]:
    with cluster(limit, broker) as s:
        load = drive(s, minutes, per_minute)
    return [
        *outcome_rows(load, minutes, per_minute, limit),
        (
            "worker + bridge CPU (both worker hosts)",
            f"{100 * load.cpu_s / load.wall_s:.0f}% of one core",
            "reported",
        ),
    ]


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description="Benchmark the pipeline across two worker hosts.")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--per-minute", type=float, default=600.0, help="push rate")
    parser.add_argument("--limit", type=int, default=600, help="the provider's limit, per minute")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-cluster: network namespaces need root")
    rows = measure(args.minutes, args.per_minute, args.limit, args.broker)
    tables = previous_tables(RESULTS)
    tables[args.broker] = table(f"{args.broker} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", rows)
    print(tables[args.broker], flush=True)
    header = (
        "## Cluster benchmark\n\n"
        f"{os.cpu_count()} cores; two worker hosts (network namespaces) x {PROCESSES} processes, "
        "bridge and scheduler on a third, Redis and the Supabase stand-in on a fourth; provider "
        f"stand-in latency {LATENCY[0]:g}-{LATENCY[1]:g} s. One table per broker "
        "(`bench/cluster.py --broker rabbitmq`); each heading says when it ran.\n"
    )
    RESULTS.write_text("\n".join([header, *(tables[b] for b in ("redis", "rabbitmq") if b in tables)]))
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
