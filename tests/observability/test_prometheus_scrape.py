"""A real Prometheus scrapes the real processes with the project's own scrape config, and the series move.

Debian's `prometheus` (installed by scripts/ensure-services.sh) runs on a free loopback port with a
config generated from ops/prometheus/prometheus.yml: the same jobs and recording rules, each target
pointed at the process this test started, scraped every second. The worker is started by
scripts/worker itself, over a metrics directory holding a previous run's counts: they must be gone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.faults.conftest import FaultStack
from tests.helpers.asgi import free_port, serve
from tests.helpers.processes import ROOT, WORKER_READY, Proc, Ready, answers, python_env, wait_until
from tests.observability.conftest import booted, push
from wearon.domain.task import Channel

PROMETHEUS_DIR = ROOT / "ops" / "prometheus"
PHOTO = ROOT / "tests" / "fixtures" / "basketball1.png"
#: Jobs of the production config with no process of ours behind them (node-exporter, redis-exporter,
#: blackbox-exporter).
NOT_OURS = frozenset({"node", "redis", "tls"})
#: A stale count from a "previous run" left in the worker's metrics directory.
STALE_REFUNDS = 1000

#: PromQL -> the value it must reach (the processes start from zero).
EXPECTED = {
    'up{job="prometheus"}': 1,
    'up{job="bridge"}': 1,
    'up{job="worker"}': 1,
    'up{job="scheduler"}': 1,
    'up{job="api"}': 1,
    'sum(wearon_bridge_tasks_moved_total{job="bridge"})': 2,
    'sum(wearon_bridge_lag_seconds_count{job="bridge"})': 2,
    'count(wearon_queue_depth{job="bridge", queue=~"tasks|dead_letters|dramatiq:generation"})': 3,
    'sum(wearon_generations_total{job="worker", outcome="completed"})': 1,
    'sum(wearon_generations_total{job="worker", outcome="failed", reason="moderation_blocked"})': 1,
    # 1, not 1001: scripts/worker emptied the metrics directory
    'sum(wearon_credits_refunded_total{job="worker"})': 1,
    'sum(wearon_provider_requests_total{job="worker", status="200"})': 1,
    'sum(wearon_provider_requests_total{job="worker", status="400"})': 1,
    'sum(dramatiq_messages_total{job="worker", actor_name="generate"})': 2,
    'sum(dramatiq_message_errors_total{job="worker", actor_name="generate"})': 1,
    'sum(wearon_http_requests_total{job="api", route="/estimate-body", method="POST", status="200"})': 1,
    'sum(wearon_http_request_duration_seconds_count{job="api", route="/estimate-body"})': 1,
    # recorded by the project's own rules, from the series above
    "wearon:api_health_ok:min": 1,
}


def scrape_config(targets: dict[str, int], out: Path) -> Path:
    """ops/prometheus/prometheus.yml with every job of ours pointed at a local port, scraped each second."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) - NOT_OURS == set(targets), "a job of ops/prometheus/prometheus.yml is not covered"
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / rules) for rules in config["rule_files"]]
    config["scrape_configs"] = [
        {**without_discovery(jobs[name]), "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for name, port in targets.items()
    ]
    path = out / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def without_discovery(job: dict[str, Any]) -> dict[str, Any]:
    """A job without its service discovery (compose's DNS names), to be given static targets."""
    return {key: value for key, value in job.items() if not key.endswith("_sd_configs")}


class Prometheus:
    def __init__(self, config: Path, data: Path, port: int) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (scripts/ensure-services.sh installs it)")
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={data}"]
        argv += [f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self.proc = Proc("prometheus", argv, {"PATH": "/usr/bin:/bin"}, data.parent)
        wait_until(self._ready, 30, interval=0.2, what="prometheus ready")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def value(self, query: str) -> float | None:
        """The query's single value now, or None while it has none."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture
def photo_url() -> Iterator[str]:
    photo = PHOTO.read_bytes()

    async def person(_: Request) -> Response:
        return Response(photo, media_type="image/png")

    with serve(Starlette(routes=[Route("/person.png", person)])) as url:
        yield f"{url}/person.png"


def start_worker(stack: FaultStack, tmp: Path, port: int) -> Proc:
    """scripts/worker, as deployed, over a metrics directory a previous run left counts in."""
    metrics_dir = tmp / "worker-metrics"
    metrics_dir.mkdir()
    seed = f"from wearon import metrics; metrics.CREDITS_REFUNDED.labels(channel='b2c').inc({STALE_REFUNDS})"
    subprocess.run(
        [sys.executable, "-c", seed], env=python_env(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)), check=True
    )
    assert list(metrics_dir.glob("counter_*.db"))
    env = stack.env() | {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(port),
        "WORKER_PROCESSES": "1",
        "WORKER_CONCURRENCY": "4",
        "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
    }
    proc = Proc(
        "worker", [str(ROOT / "scripts" / "worker")], env, tmp, Ready(WORKER_READY, metrics_port=port)
    )
    stack.procs.append(proc)
    return booted(proc, "worker")


def start_process(stack: FaultStack, tmp: Path, name: str, argv: list[str], port: int, ready: str) -> Proc:
    proc = Proc(name, argv, stack.env(), tmp)
    stack.procs.append(proc)
    wait_until(lambda: answers(port, ready), 90, interval=0.5, what=f"{name} ready")
    return proc


def unmet(prometheus: Prometheus) -> dict[str, Any]:
    values = {query: prometheus.value(query) for query in EXPECTED}
    return {query: value for query, value in values.items() if value != EXPECTED[query]}


def test_prometheus_scrapes_every_process_and_the_series_move(
    tmp_path: Path, stack_of: Callable[..., FaultStack], photo_url: str
) -> None:
    # Given every process of ours, each on its own metrics port, as in production
    ports = {name: free_port() for name in ("bridge", "worker", "scheduler", "api")}
    stack = stack_of(
        LOG_LEVEL="INFO",
        BRIDGE_METRICS_PORT=str(ports["bridge"]),
        SCHEDULER_METRICS_PORT=str(ports["scheduler"]),
    )
    booted(stack.bridge(), "bridge")
    start_worker(stack, tmp_path, ports["worker"])
    scheduler = [sys.executable, "-m", "wearon.scheduler"]
    start_process(stack, tmp_path, "scheduler", scheduler, ports["scheduler"], "/metrics")
    api = ["uvicorn", "wearon.http:app", "--host", "127.0.0.1", "--port", str(ports["api"])]
    start_process(stack, tmp_path, "api", api, ports["api"], "/health")
    # and a Prometheus scraping them with the project's config
    prometheus_port = free_port()
    config = scrape_config({"prometheus": prometheus_port} | ports, tmp_path)
    (tmp_path / "tsdb").mkdir()
    prometheus = Prometheus(config, tmp_path / "tsdb", prometheus_port)
    try:
        # When a task completes, one is refused by moderation, and a size is asked for
        tasks = [
            push(stack, Channel.B2C, "scrape ok"),
            push(stack, Channel.B2B, "[standin:moderation] scrape"),
        ]
        size = httpx.post(
            f"http://127.0.0.1:{ports['api']}/estimate-body",
            json={"image_url": photo_url, "height_cm": 175},
            timeout=60,
        )
        assert size.status_code == 200, size.text
        stack.wait_terminal(tasks, timeout=30)
        stack.assert_balances(tasks)  # the one refund counted is one credit in the app's table
        # Then Prometheus, through its HTTP API, sees every target up and every series moved
        missing: dict[str, Any] = {}

        def all_met() -> bool:
            missing.clear()
            missing.update(unmet(prometheus))
            return not missing

        try:
            wait_until(all_met, 30, interval=1.0, what="series")
        except AssertionError:
            pytest.fail(f"series not at their expected values (query: value now): {missing}")
    finally:
        prometheus.stop()
