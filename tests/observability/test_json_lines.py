"""Every line each real process writes, on stdout and on stderr, is a JSON object: the API under
`uvicorn wearon.http:app` (uvicorn's own start-up lines, and the pose library's native logs:
glog, absl, TFLite), the bridge, the workers as scripts/worker starts them (Dramatiq's main process
and metrics fork too), and the scheduler."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.helpers.asgi import free_port
from tests.helpers.processes import ROOT, Proc, python_env, wait_until
from wearon import keys

pytestmark = pytest.mark.slow


def not_json(path: Path) -> list[str]:
    bad = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def written(proc: Proc) -> str:
    """Both of its streams."""
    return "".join(path.read_text(errors="replace") for _, path in _streams(proc))


def records(proc: Proc) -> list[dict[str, object]]:
    return [json.loads(line) for line in written(proc).splitlines()]


@pytest.fixture
def processes(tmp_path: Path, redis_client: redis.Redis) -> Iterator[dict[str, Proc]]:
    api_port = free_port()
    env = python_env(
        REDIS_URL=TEST_REDIS_URL,
        DRAMATIQ_NAMESPACE="wearon-test",
        LOCAL_DATA_DIR=str(tmp_path / "data"),
        LOG_LEVEL="DEBUG",
        BRIDGE_METRICS_PORT=str(free_port()),
        SCHEDULER_METRICS_PORT=str(free_port()),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        dramatiq_prom_port=str(free_port()),
        WORKER_PROCESSES="1",
        WORKER_CONCURRENCY="2",
        API_PORT=str(api_port),
    )
    argv = {
        "api": [
            sys.executable,
            "-m",
            "uvicorn",
            "wearon.http:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ],
        "bridge": [sys.executable, "-m", "wearon.bridge"],
        "worker": [str(ROOT / "scripts" / "worker")],
        "scheduler": [sys.executable, "-m", "wearon.scheduler"],
    }
    procs = {name: Proc(name, command, env, tmp_path, split_stderr=True) for name, command in argv.items()}
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def test_every_line_of_every_process_is_json(processes: dict[str, Proc], redis_client: redis.Redis) -> None:
    # Given the four processes, booted
    api = httpx.Client(base_url=f"http://127.0.0.1:{processes['api'].popen.args[-1]}", timeout=10)
    wait_until(lambda: _answers(api, "/health"), 90, interval=0.5, what="API ready")
    wait_until(lambda: "bridge started" in written(processes["bridge"]), 30, what="bridge ready")
    wait_until(lambda: "Worker process is ready" in written(processes["worker"]), 30, what="worker ready")
    wait_until(lambda: "Scheduling Actor" in written(processes["scheduler"]), 30, what="scheduler ready")
    # When each does some work and is stopped (the workers as tini does: their main process)
    refused = api.post("/estimate-body", json={"image_url": "http://nowhere.test/a.png", "height_cm": 170})
    assert refused.status_code == 422
    redis_client.lpush(keys.TASKS, b"[" * 1000 + b"]" * 1000)
    wait_until(lambda: redis_client.llen(keys.DEAD_LETTERS) == 1, 10, what="dead letter")
    api.close()
    processes["worker"].popen.send_signal(signal.SIGTERM)
    assert processes["worker"].popen.wait(30) == 0
    for proc in processes.values():
        proc.stop()
    # Then every line on stdout and stderr was JSON
    bad = {f"{p.name} {stream}": not_json(path) for p in processes.values() for stream, path in _streams(p)}
    assert bad == {name: [] for name in bad}
    # including the lines that used to bypass the JSON log
    api_lines = records(processes["api"])
    assert any(r["logger"] == "stderr" and "XNNPACK" in str(r["message"]) for r in api_lines)
    assert any(str(r["message"]).startswith("Started server process") for r in api_lines)
    assert any("is booting up" in str(r["message"]) for r in records(processes["worker"]))


def _streams(proc: Proc) -> list[tuple[str, Path]]:
    return [("stdout", proc.log), ("stderr", proc.err_log)]


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False
