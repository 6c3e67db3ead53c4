"""`make bench`: the generation pipeline under load, with real processes, Redis and PostgreSQL.

Runs the real bridge, worker and scheduler processes against the OpenAI stand-in (a separate
process on loopback, configurable latency) and the Supabase adapter talking to its stand-in (a
separate process, with the real PostgreSQL database `wearon_bench` behind it), and prints one
table per scenario (also written to bench/results/pipeline.md):

  sustained  issue 12.8's run: 300 tasks/min (--per-minute) for --minutes (default 5), provider
             latency uniform 20-40 s, the provider strict (a 429 to any request past 300 arrivals
             in any sliding 60 s, every arrival counted), and one busy-loop process at nice 0 on
             the same cores (--no-busy-loop for a quiet run)
  burst      10,000 tasks LPUSHed at once, provider latency 0, rate limit lifted
  cost       --cost-tasks tasks at provider latency 0, rate limit lifted: the pipeline's own cost

Uses Redis database 14 and Dramatiq namespace wearon-bench, so it touches nothing else; a second
run at the same time needs its own BENCH_REDIS_URL and BENCH_DATABASE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import redis
from PIL import Image
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.asgi import free_port, serve  # noqa: E402
from tests.helpers.images import encoded, image_app  # noqa: E402
from tests.helpers.processes import die_with_parent  # noqa: E402
from tests.standins.openai import API_KEY, max_in_window  # noqa: E402
from tests.standins.supabase import SERVICE_ROLE_KEY  # noqa: E402
from wearon import keys  # noqa: E402

# Two benches at once on one machine must not share these (each flushes and drops them at start):
# BENCH_REDIS_URL and BENCH_DATABASE give a run its own. Database 6: outside the test slots (8-15).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
DATABASE = os.environ.get("BENCH_DATABASE", "wearon_bench")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DSN = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
MIGRATIONS = sorted((ROOT / "supabase" / "migrations").glob("*.sql"))
#: The app's database before our migration (the tests' stand-in for it).
APP_SCHEMA = ROOT / "tests" / "fixtures" / "app_database.sql"
BENCH_USER, BENCH_STORE = "00000000-0000-4000-8000-00000000bec1", "00000000-0000-4000-8000-00000000bec2"
NAMESPACE = "wearon-bench"
#: Not the machine's host name (the default): the burst scenario watches this bridge's in-flight list.
BRIDGE_ID = "bench"
PROCESSES, THREADS = 2, 128
RESULTS = ROOT / "bench" / "results" / "pipeline.md"
#: The histogram of the time a task waited on the provider rate limiter (wearon.metrics).
RATE_WAIT = "wearon_rate_limiter_wait_seconds"
#: From a rate slot to the request's head going out, and the slots given up for being too old.
SLOT_TO_SEND = "wearon_rate_slot_to_send_seconds"
SLOTS_RETAKEN = "wearon_rate_slots_retaken_total"
#: The provider's own limit, which the strict stand-in enforces over any sliding minute.
PROVIDER_LIMIT = 300


@dataclass
class Stack:
    data_dir: Path
    standin_url: str
    images_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    redis: redis.Redis


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DATABASE)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(APP_SCHEMA.read_text())
        for migration in MIGRATIONS:
            conn.execute(migration.read_text())
        # The app's owners, with credits for any run
        conn.execute("insert into auth.users (id) values (%s)", (BENCH_USER,))
        conn.execute("insert into public.stores (id) values (%s)", (BENCH_STORE,))
        conn.execute("insert into public.user_credit_balances values (%s, 1000000000)", (BENCH_USER,))
        conn.execute("insert into public.store_credit_balances values (%s, 1000000000)", (BENCH_STORE,))


def env_for(data_dir: Path, standin_url: str, supabase_url: str, rate_limit: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUPABASE_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        REDIS_URL=REDIS_URL,
        DRAMATIQ_NAMESPACE=NAMESPACE,
        BRIDGE_ID=BRIDGE_ID,
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=f"{standin_url}/v1",
        OPENAI_RATE_LIMIT_PER_MINUTE=str(rate_limit),
        SUPABASE_URL=supabase_url,
        SUPABASE_SERVICE_ROLE_KEY=SERVICE_ROLE_KEY,
        DOWNLOAD_ALLOWED_HOSTS="127.0.0.1",
        DOWNLOAD_ALLOW_PRIVATE_NETWORKS="true",
        WORKER_PROCESSES=str(PROCESSES),
        WORKER_CONCURRENCY=str(THREADS),
        BRIDGE_METRICS_PORT=str(free_port()),
        SCHEDULER_METRICS_PORT=str(free_port()),
        PROMETHEUS_MULTIPROC_DIR=str(data_dir / "prometheus"),
        dramatiq_prom_port=str(free_port()),
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def busy_loop(enabled: bool) -> Iterator[None]:
    """One process spinning on a CPU at nice 0, as other work on the same box does."""
    if not enabled:
        yield
        return
    spinner = subprocess.Popen(
        [sys.executable, "-c", "while True: pass"], preexec_fn=_nice_zero_dying_with_parent
    )
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _nice_zero_dying_with_parent() -> None:
    die_with_parent()
    with suppress(PermissionError):  # at nice 0 even when the bench itself runs under `nice`
        os.setpriority(os.PRIO_PROCESS, 0, 0)


@contextmanager
def stack(
    latency: tuple[float, float],
    rate_limit: int,
    small_images: bool = False,
    strict_limit: int | None = None,
    images: tuple[bytes, bytes] | None = None,
) -> Iterator[Stack]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    fresh_database()
    data_dir = Path(tempfile.mkdtemp(prefix="wearon-bench-"))
    port, supabase_port = free_port(), free_port()
    standin_url = f"http://127.0.0.1:{port}"
    supabase_url = f"http://127.0.0.1:{supabase_port}"
    env = env_for(data_dir, standin_url, supabase_url, rate_limit)
    logs = data_dir / "logs"
    logs.mkdir()
    openai = ["tests.standins.openai", "--port", str(port), "--latency", *map(str, latency)]
    if strict_limit is not None:
        openai += ["--strict-limit", str(strict_limit)]
    commands = {
        "standin": [sys.executable, "-m", *openai],
        "supabase": [
            sys.executable,
            "-m",
            "tests.standins.supabase",
            "--port",
            str(supabase_port),
            "--dsn",
            PG_DSN,
        ],
        "bridge": [sys.executable, "-m", "wearon.bridge"],
        "worker": [str(ROOT / "scripts" / "worker")],
        "scheduler": [sys.executable, "-m", "wearon.scheduler"],
    }
    procs = {
        name: subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        for name, argv in commands.items()
    }
    try:
        with serve(image_app(small=small_images, images=images)) as images_url:
            _wait_http(f"{standin_url}/_standin/stats")
            _wait_http(f"{supabase_url}/rest/v1/rpc/none")  # any answer will do: it is up
            time.sleep(3)  # worker processes boot
            yield Stack(data_dir, standin_url, images_url, procs, client)
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        client.flushdb()


def _wait_http(url: str) -> None:
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def make_task(s: Stack, n: int) -> dict[str, Any]:
    b2b = n % 2 == 1
    task = {
        "task_id": str(uuid4()),
        "channel": "b2b" if b2b else "b2c",
        "store_id": BENCH_STORE if b2b else None,
        "user_id": None if b2b else BENCH_USER,
        "session_id": str(uuid4()),
        "image_urls": [f"{s.images_url}/person.jpg", f"{s.images_url}/garment.jpg"],
        "prompt": f"bench {n} {uuid4().hex[:8]}",
        "request_id": f"bench-{n}",
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(),
    }
    return task


def open_sessions(s: Stack, tasks: list[dict[str, Any]]) -> None:
    """What the Next.js API does: one credit spent (the app's deduct_credits), one queued session,
    per task."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "select public.deduct_credits(p_user_id => %s, p_store_id => %s)",
            [(t["user_id"], t["store_id"]) for t in tasks],
        )
        for channel, table, owner in (
            ("b2c", "generation_sessions", "user_id"),
            ("b2b", "store_generation_sessions", "store_id"),
        ):
            cur.executemany(
                f"insert into public.{table} (id, {owner}, prompt) values (%s, %s, %s)",
                [(t["session_id"], t[owner], t["prompt"]) for t in tasks if t["channel"] == channel],
            )


def sessions(s: Stack) -> list[dict[str, Any]]:
    with psycopg.connect(PG_DSN, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(
            "select id, status, created_at, updated_at, prompt from generation_sessions"
            " union all select id, status, created_at, updated_at, prompt from store_generation_sessions"
        ).fetchall()


def wait_terminal(s: Stack, expected: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = sessions(s)
        done = [r for r in rows if r["status"] in ("completed", "failed")]
        if len(done) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, IndexError):
            pass
    return total


def tree(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-g", str(os.getpgid(pid))], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def pipeline_pids(s: Stack) -> list[int]:
    """The bridges' and the workers' processes (every host's)."""
    return [
        p for name, proc in s.procs.items() if name.startswith(("bridge", "worker")) for p in tree(proc.pid)
    ]


def standin_stats(s: Stack) -> dict[str, Any]:
    return dict(httpx.get(f"{s.standin_url}/_standin/stats", timeout=30).json())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ts(value: datetime) -> float:
    return value.timestamp()


#: One line of a results table: what, measured, target.
Row = tuple[str, str, str]


@dataclass
class Load:
    """What a sustained push left: the sessions' rows, the provider's record, the pipeline's cost."""

    started: float
    push_end: float
    pushed: int
    rows: list[dict[str, Any]]
    stats: dict[str, Any]
    cpu_s: float
    wall_s: float
    peak_rss_mb: float
    #: The machine's 5-minute load average when the push ended: a busy machine slows every row.
    load_avg: float


def drive(s: Stack, minutes: float, push_per_minute: float, settle_s: float = 180) -> Load:
    """Push tasks at `push_per_minute` for `minutes` (as the Next.js API does), then wait up to
    `settle_s` for the last of them to end."""
    rate = push_per_minute / 60  # tasks per second
    cpu0 = cpu_seconds(pipeline_pids(s))
    started = time.time()
    total = int(minutes * 60 * rate)
    peak_rss = 0.0
    for n in range(total):
        task = make_task(s, n)
        open_sessions(s, [task])
        s.redis.lpush(keys.TASKS, json.dumps(task))
        if n % 50 == 0:
            peak_rss = max(peak_rss, rss_mb(pipeline_pids(s)))
        time.sleep(max(0.0, started + (n + 1) / rate - time.time()))
    push_end = time.time()
    load_avg = os.getloadavg()[1]
    rows = wait_terminal(s, total, timeout=settle_s)
    wall = time.time() - started
    cpu = cpu_seconds(pipeline_pids(s)) - cpu0
    peak_rss = max(peak_rss, rss_mb(pipeline_pids(s)))
    return Load(started, push_end, total, rows, standin_stats(s), cpu, wall, peak_rss, load_avg)


def outcome_rows(load: Load, minutes: float, push_per_minute: float, limit: int) -> list[Row]:
    """The rows every sustained run reports: throughput against the limit, the provider's busiest
    minute, and the time from the queue to a completed session."""
    rows = load.rows
    completed = [r for r in rows if r["status"] == "completed"]
    total_s = [ts(r["updated_at"]) - ts(r["created_at"]) for r in completed]
    per_minute = _steady_per_minute(
        [ts(r["updated_at"]) for r in completed], load.started + 60, load.push_end
    )
    return [
        (
            "tasks pushed (in the time the push took: longer when this machine is starved)",
            f"{load.pushed} in {(load.push_end - load.started) / 60:.2f} min, asked {push_per_minute:g}/min",
            f"{minutes:g} min",
        ),
        (
            "completed / failed",
            f"{len(completed)} / {sum(r['status'] == 'failed' for r in rows)}",
            "all completed",
        ),
        (
            "completed per minute, steady state (overall / slowest minute)",
            per_minute,
            f">= {round(limit * 0.984)}",
        ),
        (
            "arrivals at the provider in any sliding 60 s window (max)",
            str(max_in_window(load.stats["arrivals"])),
            f"<= {limit}",
        ),
        (
            "queue -> completed p50 / p95",
            f"{pct(total_s, 0.5):.1f} s / {pct(total_s, 0.95):.1f} s",
            "p95 < 45 s",
        ),
        (
            "machine load (5 min average) as the push ended: a busy machine slows every row",
            f"{load.load_avg:.1f}",
            f"< {os.cpu_count()} (its cores)",
        ),
    ]


def sustained(minutes: float, push_per_minute: float, busy: bool) -> list[Row]:
    """The issue's scenario: a provider that answers 429 past its limit in any sliding minute, and
    (by default) one busy-loop process competing for the cores."""
    with stack((20.0, 40.0), rate_limit=PROVIDER_LIMIT, strict_limit=PROVIDER_LIMIT) as s, busy_loop(busy):
        load = drive(s, minutes, push_per_minute)
        # Every arrival, call and latency, for a closer look at a run that missed its targets.
        (s.data_dir / "standin-stats.json").write_text(json.dumps(load.stats))
        print(f"stand-in stats and process logs in {s.data_dir}", flush=True)
        prom = s.data_dir / "prometheus"
        gate_wait = [histogram_quantile(prom, RATE_WAIT, q) for q in (0.5, 0.95)]
        slot_gap = [histogram_quantile(prom, SLOT_TO_SEND, q) for q in (0.95, 1.0)]
        retaken = counter_total(prom, SLOTS_RETAKEN)
    completed = [r for r in load.rows if r["status"] == "completed"]
    latency = dict(zip(load.stats["prompts"], load.stats["latencies"], strict=True))
    overhead = [ts(r["updated_at"]) - ts(r["created_at"]) - latency.get(r["prompt"], 0.0) for r in completed]
    return [
        ("background CPU load", "one busy-loop process at nice 0" if busy else "none", "busy loop"),
        ("429s from the strict provider", str(load.stats["throttled"]), "0"),
        *outcome_rows(load, minutes, push_per_minute, limit=PROVIDER_LIMIT),
        (
            "overhead (minus provider time) p50 / p95",
            f"{pct(overhead, 0.5):.3f} s / {pct(overhead, 0.95):.3f} s",
            "p95 < 1 s",
        ),
        ("  of which waiting on our rate limiter, p50 / p95", "{:.3f} s / {:.3f} s".format(*gate_wait), ""),
        (
            "rate slot to send p95 / max (bucket bound); slots retaken",
            "{:.3f} s / {:.3f} s; {:.0f}".format(*slot_gap, retaken),
            "< margin / 2",
        ),
        ("worker + bridge RSS (peak)", f"{load.peak_rss_mb:.0f} MB", "< 1 GB"),
        ("worker + bridge CPU", f"{100 * load.cpu_s / load.wall_s:.0f}% of one core", "reported"),
    ]


def counter_total(directory: Path, name: str) -> float:
    """The sum of a counter the pipeline's processes wrote, over every label."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return sum(
        sample.value for metric in registry.collect() for sample in metric.samples if sample.name == name
    )


def _steady_per_minute(done_at: list[float], start: float, end: float) -> str:
    """Completions per minute from `start` to `end`: over the whole span, and the slowest whole minute."""
    counts = []
    minute = start
    while minute + 60 <= end:
        counts.append(sum(minute <= t < minute + 60 for t in done_at))
        minute += 60
    if not counts:
        return "n/a (run >= 2 minutes)"
    overall = 60 * sum(start <= t < end for t in done_at) / (end - start)
    return f"{overall:.1f} / {min(counts)}"


def histogram_quantile(directory: Path, name: str, q: float) -> float:
    """The q-quantile of a histogram the pipeline's processes wrote, as Prometheus estimates it."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    buckets: dict[float, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        return float("nan")
    rank, lower, below = q * buckets[bounds[-1]], 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-9)
        lower, below = bound, buckets[bound]
    return lower


def burst(count: int) -> list[tuple[str, str, str]]:
    # Small inputs: this scenario is about the bridge and about losing nothing, not image CPU.
    with stack((0.0, 0.0), rate_limit=10**7, small_images=True) as s:
        tasks = [make_task(s, n) for n in range(count)]
        open_sessions(s, tasks)
        pipe = s.redis.pipeline(transaction=False)
        for t in tasks:
            pipe.lpush(keys.TASKS, json.dumps(t))
        started = time.time()
        pipe.execute()
        processing = keys.bridge_processing(BRIDGE_ID)
        while s.redis.llen(keys.TASKS) or s.redis.llen(processing):
            time.sleep(0.01)
        moved_s = time.time() - started
        rows = wait_terminal(s, count, timeout=900)
        stats = standin_stats(s)
    terminal = sum(r["status"] in ("completed", "failed") for r in rows)
    seen: dict[str, int] = {}
    for prompt in stats["prompts"]:
        seen[prompt] = seen.get(prompt, 0) + 1
    return [
        ("tasks LPUSHed at once", str(count), ""),
        ("bridge: moved into Dramatiq", f"{count / moved_s:,.0f} tasks/s ({moved_s:.2f} s)", ">= 2,000/s"),
        ("reached a terminal state", f"{terminal} / {count}", "all"),
        ("lost (no session row terminal)", str(count - terminal), "0"),
        ("provider called twice for one task", str(sum(n > 1 for n in seen.values())), "0"),
    ]


#: The issue's inputs (14.4): two 1200x1600 JPEGs.
ISSUE_INPUT_SIZE = (1200, 1600)


def photo_inputs(size: tuple[int, int] = ISSUE_INPUT_SIZE) -> tuple[bytes, bytes]:
    """Two JPEGs of `size` that cost what photos cost to decode: the repository's real photos
    scaled to it, with sensor-like noise (a flat colour decodes several times faster than a photo),
    at quality 90, as a phone saves them."""
    photos = []
    for name in ("messi5.jpg", "basketball1.png"):
        img = (
            Image.open(ROOT / "tests" / "fixtures" / name)
            .convert("RGB")
            .resize(size, Image.Resampling.BICUBIC)
        )
        noise = Image.effect_noise(size, 12).convert("RGB")
        photos.append(encoded(Image.blend(img, noise, 0.08), "JPEG", quality=90))
    return photos[0], photos[1]


def cost(count: int) -> list[tuple[str, str, str]]:
    inputs = photo_inputs()
    with stack((0.0, 0.0), rate_limit=10**7, images=inputs) as s:
        tasks = [make_task(s, n) for n in range(count)]
        open_sessions(s, tasks)
        cpu0 = cpu_seconds(pipeline_pids(s))
        started = time.time()
        pipe = s.redis.pipeline(transaction=False)
        for t in tasks:
            pipe.lpush(keys.TASKS, json.dumps(t))
        pipe.execute()
        rows = wait_terminal(s, count, timeout=900)
        wall = time.time() - started
        cpu = cpu_seconds(pipeline_pids(s)) - cpu0
    done = sum(r["status"] == "completed" for r in rows)
    width, height = ISSUE_INPUT_SIZE
    return [
        ("tasks (provider latency 0)", str(count), ""),
        (
            "inputs per task: photos, JPEG quality 90",
            f"2 x {width}x{height} ({len(inputs[0]) // 1024} KB, {len(inputs[1]) // 1024} KB)",
            "the issue's",
        ),
        ("end to end", f"{done / wall:.1f} tasks/s", "reported"),
        ("CPU per task (bridge + workers)", f"{1000 * cpu / max(done, 1):.1f} CPU-ms", "<= 50 CPU-ms"),
    ]


def table(title: str, rows: list[tuple[str, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [
        f"### {title}",
        "",
        f"| {'measure':{width}} | measured | target |",
        f"|{'-' * (width + 2)}|---|---|",
    ]
    lines += [f"| {name:{width}} | {value} | {target} |" for name, value, target in rows]
    return "\n".join(lines) + "\n"


SCENARIOS = ("sustained", "burst", "cost")


def main() -> None:
    # A SIGTERM (timeout, Ctrl-C from make) must still stop the processes this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description="Benchmark the generation pipeline.")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the sustained scenario")
    parser.add_argument(
        "--per-minute", type=float, default=300.0, help="sustained push rate (the limit stays 300)"
    )
    parser.add_argument(
        "--busy-loop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one busy-loop process at nice 0 during the sustained scenario (default: on)",
    )
    parser.add_argument("--burst", type=int, default=10_000, help="tasks in the burst scenario")
    parser.add_argument("--cost-tasks", type=int, default=2_000, help="tasks in the cost scenario")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these (repeatable)")
    args = parser.parse_args()
    tables = previous_tables() if args.only else {}
    for name in args.only or SCENARIOS:
        scenarios: dict[str, Callable[[], list[Row]]] = {
            "sustained": lambda: sustained(args.minutes, args.per_minute, args.busy_loop),
            "burst": lambda: burst(args.burst),
            "cost": lambda: cost(args.cost_tasks),
        }
        rows = scenarios[name]()
        tables[name] = table(f"{name} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", rows)
        print(tables[name], flush=True)
    header = (
        "## Pipeline benchmark\n\n"
        f"{os.cpu_count()} cores; backend: Supabase adapter -> stand-in -> PostgreSQL; "
        f"worker: {PROCESSES} processes x {THREADS} threads; OpenAI stand-in on loopback.\n"
        "Each scenario's heading says when it ran (`--only` reruns one and keeps the others).\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join([header, *(tables[n] for n in SCENARIOS if n in tables)]))
    print(f"written to {RESULTS.relative_to(ROOT)}")


def previous_tables(results: Path = RESULTS) -> dict[str, str]:
    """The tables in a results file, by the first word of their heading, so a partial run keeps
    the others."""
    if not results.exists():
        return {}
    sections = results.read_text().split("\n### ")[1:]
    return {section.split()[0]: "### " + section.rstrip("\n") + "\n" for section in sections}


if __name__ == "__main__":
    main()
