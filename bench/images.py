"""`make bench-images`: what decoding hostile images costs in memory, one at a time and 32 at once.

Part 1, one image at a time. For each kind of image below: the largest one the decode budget lets
through (found with header-only files, nothing decoded) and one just under the 40 MP pixel cap.
Each is decoded to 1024 px (the worker's inputs) in a fresh process (tests/helpers/memory.py),
which reports its peak RSS growth (VmHWM after the decode minus VmRSS before it) and CPU time.
Target: <= 100 MB each.

Part 2, the API. `uvicorn wearon.http:app` as a real process (bench/sizerec.py's, with glibc's
default malloc arenas, as in production), 32 clients posting /estimate-body at once with those
images, each client 4 of them, /health called every 50 ms meanwhile.
Targets: the API's peak RSS (VmHWM) under its 1 GB container limit, /health p95 < 200 ms.

Writes bench/results/images.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sizerec import ARENAS, ApiProcess, HealthProbe, Run  # noqa: E402
from tests.helpers.asgi import serve  # noqa: E402
from tests.helpers.images import declaring, encoded  # noqa: E402
from tests.helpers.memory import decode_in_fresh_process  # noqa: E402
from wearon.errors import ImageRejected  # noqa: E402
from wearon.images import MAX_PIXELS, decode_image  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "images.md"
MAX_SIDE = 1024
TARGET_MB = 100
API_LIMIT_MB = 1024
#: glibc's default on 2 cores (8 per core): production's API container does not set MALLOC_ARENA_MAX.
API_ARENAS = "16"
CLIENTS = 32
REQUESTS_PER_CLIENT = 4
ASPECT = (4, 3)


@dataclass(frozen=True)
class Kind:
    name: str
    fmt: str
    mode: str
    options: dict[str, object] = field(default_factory=dict)

    def encode(self, size: tuple[int, int]) -> bytes:
        """An image of this kind: one colour with a block of another (half of it transparent where
        the mode allows), so every decoder runs as on a photo, in a small file."""
        img = Image.new(self.mode, size, _fill(self.mode, 0))
        img.paste(_fill(self.mode, 1), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
        if self.mode == "P":
            img.putpalette([0, 0, 0, 200, 60, 60, 60, 60, 200])
        return encoded(img, self.fmt, **self.options)


def _fill(mode: str, which: int) -> int | tuple[int, ...]:
    fills: dict[str, tuple[int | tuple[int, ...], ...]] = {
        "RGBA": ((200, 60, 60, 255), (60, 60, 200, 0)),
        "RGB": ((200, 60, 60), (60, 60, 200)),
        "I;16": (40_000, 20_000),
        "P": (1, 0),  # palette 0 is transparent
    }
    return fills[mode][which]


KINDS = (
    Kind("PNG RGBA", "PNG", "RGBA"),
    Kind("PNG RGB", "PNG", "RGB"),
    Kind("PNG 16-bit grey", "PNG", "I;16"),
    Kind("PNG palette + transparency", "PNG", "P", {"transparency": 0}),
    Kind("WebP lossless (alpha)", "WEBP", "RGBA", {"lossless": True}),
    Kind("WebP lossy", "WEBP", "RGB", {"quality": 80}),
    Kind("JPEG baseline 4:2:0", "JPEG", "RGB", {"quality": 90}),
    Kind("JPEG progressive 4:2:0", "JPEG", "RGB", {"quality": 90, "progressive": True}),
    Kind("JPEG progressive 4:4:4", "JPEG", "RGB", {"quality": 90, "progressive": True, "subsampling": 0}),
)


# --- the largest image that passes, from header-only files -----------------------------------------


def passes(data: bytes) -> bool:
    try:
        decode_image(data, max_side=MAX_SIDE)
    except ImageRejected as exc:
        return exc.code != "image_too_large"
    return True


def largest_passing(kind: Kind) -> tuple[int, int]:
    """The largest 4:3 size of this kind the decode budget lets through (binary search)."""
    small = kind.encode((64, 48))
    low, high = 1, int((MAX_PIXELS / (ASPECT[0] * ASPECT[1])) ** 0.5)
    while low < high:
        mid = (low + high + 1) // 2
        if passes(declaring(small, kind.fmt, (ASPECT[0] * mid, ASPECT[1] * mid))):
            low = mid
        else:
            high = mid - 1
    return ASPECT[0] * low, ASPECT[1] * low


def under_pixel_cap() -> tuple[int, int]:
    k = int((MAX_PIXELS / (ASPECT[0] * ASPECT[1])) ** 0.5)
    return ASPECT[0] * k, ASPECT[1] * k


# --- part 1: one decode in a fresh process --------------------------------------------------------------


def measure(path: Path) -> dict[str, object]:
    return decode_in_fresh_process(path, MAX_SIDE, ARENAS)


@dataclass(frozen=True)
class Case:
    kind: Kind
    size: tuple[int, int]
    path: Path


def cases(directory: Path) -> list[Case]:
    found = []
    for kind in KINDS:
        passing = largest_passing(kind)
        print(f"  {kind.name}: {passing[0]}x{passing[1]}", flush=True)
        for size in dict.fromkeys([passing, under_pixel_cap()]):
            path = directory / f"{kind.name.replace(' ', '_')}_{size[0]}x{size[1]}.{kind.fmt.lower()}"
            path.write_bytes(kind.encode(size))
            found.append(Case(kind, size, path))
    return found


def per_image_table(measured: list[tuple[Case, dict[str, object]]]) -> list[str]:
    lines = [
        f"| image | pixels | file | decoded to (or refused) | peak RSS growth | CPU | <= {TARGET_MB} MB |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for case, m in measured:
        w, h = case.size
        growth = float(str(m["growth_mb"]))
        lines.append(
            f"| {case.kind.name} | {w}x{h} ({w * h / 1e6:.1f} MP) | {case.path.stat().st_size // 1024} KB "
            f"| {m['outcome']} | {growth:.0f} MB | {float(str(m['cpu_ms'])):.0f} ms "
            f"| {'yes' if growth <= TARGET_MB else 'NO'} |"
        )
    return lines


# --- part 2: the API under 32 hostile requests at once --------------------------------------------------


def files_app(files: dict[str, bytes]) -> Starlette:
    async def one(request: Request) -> Response:
        name = request.path_params["name"]
        return Response(files[name], media_type=f"image/{name.rsplit('.', 1)[-1]}")

    return Starlette(routes=[Route("/{name}", one)])


def hammer(base_url: str, urls: list[str], clients: int = CLIENTS) -> tuple[list[float], dict[str, int]]:
    """`clients` clients at once, each posting REQUESTS_PER_CLIENT images from `urls` (client i
    starts at the i-th, so every image is in flight several times at once); latencies, statuses."""

    def client(index: int) -> list[tuple[float, str]]:
        mine = [urls[(index + n) % len(urls)] for n in range(REQUESTS_PER_CLIENT)]
        done = []
        with httpx.Client(base_url=base_url, timeout=120) as http:
            for url in mine:
                started = time.perf_counter()
                response = http.post("/estimate-body", json={"image_url": url, "height_cm": 175})
                done.append((time.perf_counter() - started, _answer(response)))
        return done

    with ThreadPoolExecutor(clients) as pool:
        results = [x for batch in pool.map(client, range(clients)) for x in batch]
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return [latency for latency, _ in results], statuses


def _answer(response: httpx.Response) -> str:
    """The status, and the error's code when there is one."""
    try:
        return f"{response.status_code} {response.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(response.status_code)


def proc_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name}")


def api_run(all_cases: list[Case]) -> list[str]:
    files = {case.path.name: case.path.read_bytes() for case in all_cases}
    with serve(files_app(files)) as files_url, ApiProcess(API_ARENAS) as (base_url, pid):
        urls = [f"{files_url}/{name}" for name in files]
        hammer(base_url, urls, clients=1)  # warm-up: the pose models and the code paths
        before = proc_kb(pid, "VmRSS")
        health: list[float] = []
        started = time.perf_counter()
        with HealthProbe(base_url, health):
            latencies, statuses = hammer(base_url, urls)
        seconds = time.perf_counter() - started
        peak, after = proc_kb(pid, "VmHWM") / 1024, proc_kb(pid, "VmRSS") / 1024
    probe = Run("health", health, 1.0, 0)
    requests = Run("estimate", latencies, seconds, 0)
    return [
        "| measure | measured | target |",
        "|---|---|---|",
        f"| requests ({CLIENTS} clients x {REQUESTS_PER_CLIENT}, over {len(urls)} images) "
        f"| {len(latencies)} in {seconds:.0f} s; answers {dict(sorted(statuses.items()))} | no 5xx |",
        f"| API RSS before / peak (VmHWM) / after | {before / 1024:.0f} / {peak:.0f} / {after:.0f} MB "
        f"| peak < {API_LIMIT_MB} MB |",
        f"| /health p50 / p95 / max ({len(health)} calls) | {probe.pct(50):.0f} / {probe.pct(95):.0f} / "
        f"{max(health) * 1000:.0f} ms | p95 < 200 ms |",
        f"| /estimate-body p50 / p95 | {requests.pct(50):.0f} / {requests.pct(95):.0f} ms | reported |",
    ]


def main() -> int:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wearon-bench-images-") as tmp:
        print("finding the largest image of each kind that passes...", flush=True)
        all_cases = cases(Path(tmp))
        measured = [(case, measure(case.path)) for case in all_cases]
        per_image = per_image_table(measured)
        print("\n".join(per_image), flush=True)
        api = api_run(all_cases)
    report = "\n".join(
        [
            "# Image decoding under hostile input (`make bench-images`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, load average before the run "
            f"{load_before:.1f}; MALLOC_ARENA_MAX={ARENAS}.",
            "",
            f"## One image at a time, decoded to {MAX_SIDE} px in a fresh process",
            "",
            *per_image,
            "",
            f"## The API (one uvicorn process, MALLOC_ARENA_MAX={API_ARENAS}) under {CLIENTS} concurrent "
            "requests with these images",
            "",
            *api,
            "",
        ]
    )
    print(report)
    RESULTS.write_text(report)
    print(f"written to {RESULTS.relative_to(ROOT)}")
    growths = [float(str(m["growth_mb"])) for _, m in measured]
    return 0 if max(growths) <= TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
