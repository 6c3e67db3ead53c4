"""Benchmark of the size API: `make bench-sizerec`.

Starts `uvicorn wearon.http:app` as a real process, serves a 1024 px photo from a local HTTP
server, and drives POST /estimate-body with concurrent clients. Reports latency percentiles and
throughput at concurrency 1 and 4, /health latency while the API is loaded, and the server's
resident memory as 1,100 requests go by. Writes the table to bench/results/sizerec.md.

Targets (issue 4, on a 2-core machine): p95 < 250 ms at concurrency 1; >= 10 requests/s at
concurrency 4 with /health < 50 ms meanwhile; no memory growth over 1,000 requests.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "tests" / "fixtures" / "basketball1.png"
RESULTS = ROOT / "bench" / "results" / "sizerec.md"
HEIGHT_CM = 175
WARMUP = 100
SERIAL_REQUESTS = 100
LOADED_REQUESTS = 1000
CHUNK = 250
CONCURRENCY = 4
HEALTH_EVERY_S = 0.05
#: As scripts/worker does: two malloc arenas stop glibc from keeping a fragmented arena per thread.
ARENAS = os.environ.get("MALLOC_ARENA_MAX", "2")


@dataclass(frozen=True)
class Run:
    name: str
    latencies: list[float]
    seconds: float
    errors: int

    @classmethod
    def merge(cls, runs: list[Run]) -> Run:
        latencies = [x for run in runs for x in run.latencies]
        return cls(runs[0].name, latencies, sum(r.seconds for r in runs), sum(r.errors for r in runs))

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def main() -> int:
    load_before = os.getloadavg()[0]
    photo = photo_1024()
    with PhotoServer(photo) as photo_url, ApiProcess() as (base_url, pid):
        # Warm up at the loaded concurrency, so every thread and allocator arena already exists.
        check_all(drive(base_url, photo_url, WARMUP, CONCURRENCY, "warm-up"))
        rss = {"after warm-up": rss_mb(pid)}
        serial = drive(base_url, photo_url, SERIAL_REQUESTS, 1, "concurrency 1")
        health: list[float] = []
        chunks = []
        with HealthProbe(base_url, health):
            for done in range(CHUNK, LOADED_REQUESTS + 1, CHUNK):
                chunks.append(drive(base_url, photo_url, CHUNK, CONCURRENCY, f"concurrency {CONCURRENCY}"))
                rss[f"after {done} loaded requests"] = rss_mb(pid)
        loaded = Run.merge(chunks)
    report = table(serial, loaded, health, rss, photo, load_before)
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0 if serial.errors == loaded.errors == 0 else 1


def photo_1024() -> bytes:
    img = Image.open(PHOTO).convert("RGB").resize((1024, 768), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def body(photo_url: str) -> dict[str, object]:
    return {"image_url": photo_url, "height_cm": HEIGHT_CM}


def check_all(run: Run) -> None:
    if run.errors:
        raise SystemExit(f"bench: {run.errors} of {len(run.latencies)} {run.name} requests failed")


def drive(base_url: str, photo_url: str, requests: int, concurrency: int, name: str) -> Run:
    """`requests` estimates spread over `concurrency` clients, each waiting for its answer."""

    def client_loop(index: int) -> tuple[list[float], int]:
        latencies, errors = [], 0
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for _ in range(requests // concurrency + (index < requests % concurrency)):
                started = time.perf_counter()
                response = client.post("/estimate-body", json=body(photo_url))
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(client_loop, range(concurrency)))
    seconds = time.perf_counter() - started
    return Run(name, [x for lat, _ in results for x in lat], seconds, sum(e for _, e in results))


class HealthProbe:
    """While open, another client calls /health every 50 ms and records each latency."""

    def __init__(self, base_url: str, timings: list[float]) -> None:
        self._base_url, self._timings = base_url, timings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get("/health")
                self._timings.append(time.perf_counter() - started)
                self._stop.wait(HEALTH_EVERY_S)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def table(
    serial: Run, loaded: Run, health: list[float], rss: dict[str, float], photo: bytes, load_before: float
) -> str:
    h = Run("health", health, 1.0, 0)
    first, last = next(iter(rss.values())), list(rss.values())[-1]
    lines = [
        "# Size API benchmark (`make bench-sizerec`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, load average before the run "
        f"{load_before:.1f}; Python {sys.version.split()[0]}; one uvicorn process, "
        f"MALLOC_ARENA_MAX={ARENAS}. Photo: 1024x768 JPEG ({len(photo) // 1024} KiB) served from "
        "127.0.0.1; every request downloads, decodes and measures it (two pose passes: as is and mirrored).",
        "",
        "| run | requests | errors | p50 ms | p95 ms | p99 ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in (serial, loaded):
        lines.append(
            f"| {run.name} | {len(run.latencies)} | {run.errors} | {run.pct(50):.0f} | {run.pct(95):.0f} "
            f"| {run.pct(99):.0f} | {run.rps:.1f} |"
        )
    lines += [
        "",
        f"/health, called every {HEALTH_EVERY_S * 1000:.0f} ms during the concurrency-{CONCURRENCY} run: "
        f"{len(health)} calls, p50 {h.pct(50):.1f} ms, p95 {h.pct(95):.1f} ms, p99 {h.pct(99):.1f} ms, "
        f"max {max(health) * 1000:.1f} ms.",
        "",
        "| server RSS | MiB |",
        "|---|---:|",
        *(f"| {when} | {mib:.0f} |" for when, mib in rss.items()),
        f"| growth over the {SERIAL_REQUESTS + LOADED_REQUESTS} requests | {last - first:+.0f} "
        f"({(last / first - 1) * 100:+.1f}%) |",
        "",
    ]
    return "\n".join(lines)


class _PhotoHandler(BaseHTTPRequestHandler):
    photo = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.photo)))
        self.end_headers()
        self.wfile.write(self.photo)

    def log_message(self, *_: object) -> None:
        pass


class PhotoServer:
    """The photo at http://127.0.0.1:<port>/photo.jpg, from a thread."""

    def __init__(self, photo: bytes) -> None:
        handler = type("Handler", (_PhotoHandler,), {"photo": photo, "protocol_version": "HTTP/1.1"})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/photo.jpg"

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ApiProcess:
    """`uvicorn wearon.http:app` in a child process; yields its base URL and pid."""

    def __init__(self, arenas: str = ARENAS) -> None:
        self.port = _free_port()
        self._arenas = arenas
        self._proc: subprocess.Popen[bytes] | None = None
        self._data_dir = tempfile.TemporaryDirectory(prefix="wearon-bench-")

    def __enter__(self) -> tuple[str, int]:
        env = os.environ | {
            "DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1",
            "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true",
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7"),  # not a test slot (8-15)
            "LOG_LEVEL": "WARNING",
            "MALLOC_ARENA_MAX": self._arenas,
            # The embedded backend's /files store, which the API opens, stays out of the checkout.
            "LOCAL_DATA_DIR": self._data_dir.name,
        }
        command = [sys.executable, "-m", "uvicorn", "wearon.http:app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        self._proc = subprocess.Popen(command, cwd=ROOT, env=env)
        base_url = f"http://127.0.0.1:{self.port}"
        _wait_healthy(base_url, self._proc)
        return base_url, self._proc.pid

    def __exit__(self, *_: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
        self._data_dir.cleanup()


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bench: the API exited during start-up")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("bench: the API did not become healthy in 60 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
