"""What the smoke asks of each container, as Docker and a deploy would: its HEALTHCHECK passes in
time, its health answer is "ok", a task the Next.js API pushes reaches a worker, and it stops by
itself on SIGTERM with nothing going wrong on the way out."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis

from ops.smoke import sandbox
from wearon import keys

#: What the task asks: healthy within 60 s (the HEALTHCHECK's start period says the same).
HEALTHY_WITHIN_S = 60.0
ROUND_TRIP_WITHIN_S = 30.0
#: Between two probes where nothing signals readiness (Docker probes every 15 s).
POLL_S = 0.5
#: How a service may end after SIGTERM: 0, or the signal itself once it has shut down (uvicorn
#: raises it again after its graceful shutdown; periodiq keeps the default action), which is what
#: `docker stop` reports as 143. A SIGKILL after the grace period, or an error exit, is not clean.
CLEAN_EXITS = (0, 128 + signal.SIGTERM)
#: What must not appear in a service's output while it stops.
ERROR_MARKS = ("Traceback", '"level": "ERROR"', '"level": "CRITICAL"')
#: The worker's count of generate messages it ended (dead-lettered: the session does not exist).
REJECTED = re.compile(r'^dramatiq_message_rejects_total\{[^}]*actor_name="generate"[^}]*\} ([0-9.]+)$', re.M)
#: Prints what a URL answers (status, then body), from inside a container's network.
FETCH = (
    "import sys, urllib.request as u; r = u.urlopen(sys.argv[1], timeout=4); "
    "print(r.status); print(r.read().decode())"
)


@dataclass
class Result:
    name: str
    healthy_after_s: float | None = None
    answer: str = ""
    problem: str = ""
    exit_code: int | None = None
    stopped_after_s: float | None = None
    #: What healthy_after_s measured (the round trip is not a container).
    event: str = "healthy after"

    @property
    def ok(self) -> bool:
        return not self.problem and self.exit_code in CLEAN_EXITS


def health(container: sandbox.Container, healthcheck: list[str], timeout_s: float) -> Result:
    """Run the image's HEALTHCHECK inside the container until it passes, as Docker does."""
    result = Result(container.spec.name)
    while (elapsed := time.monotonic() - container.started) < HEALTHY_WITHIN_S:
        if not container.alive():
            result.problem = f"exited with {container.process.returncode} before it was healthy\n"
            result.problem += tail(container.output())
            return result
        if container.exec(healthcheck, timeout=timeout_s).returncode == 0:
            result.healthy_after_s = elapsed
            result.answer, result.problem = answer(container)
            return result
        time.sleep(POLL_S)
    result.problem = f"not healthy within {HEALTHY_WITHIN_S:g} s\n{tail(container.output())}"
    return result


def wait_healthy(container: sandbox.Container, test: list[str], timeout_s: float) -> None:
    """A compose healthcheck (`CMD` or `CMD-SHELL`), until it passes."""
    argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    deadline = time.monotonic() + timeout_s
    while (check := container.exec(argv, timeout=5)).returncode != 0:
        if not container.alive() or time.monotonic() > deadline:
            why = f"{check.stderr}{check.stdout}\n{tail(container.output())}"
            raise RuntimeError(f"{container.spec.name} not healthy: {why}")
        time.sleep(POLL_S)


def stop(container: sandbox.Container, result: Result, grace_s: float) -> None:
    """`docker stop`, then: did it end by itself in time, with no error on the way out?"""
    if not container.alive():  # it ended by itself: nothing to stop
        result.exit_code = container.process.returncode
        return
    logged = len(container.output())
    result.exit_code, result.stopped_after_s = container.stop(grace_s)
    if result.problem:
        return
    last_words = container.output()[logged:]
    if result.exit_code not in CLEAN_EXITS:
        result.problem = f"SIGTERM: exit {result.exit_code}\n{tail(container.output())}"
    elif any(mark in last_words for mark in ERROR_MARKS):
        result.problem = f"SIGTERM: errors while stopping\n{tail(last_words)}"


def round_trip(url: str, worker: sandbox.Container, logs: list[Path]) -> Result:
    """The Next.js API's way in: a task LPUSHed at `url` (the producer user, over TLS), taken by
    the bridge, run by a worker, whose claim goes through the Supabase stand-in to PostgreSQL (no
    such session: it ends dead-lettered as session_not_found)."""
    result = Result("app->redis", event="in a worker after")
    where = url.split("@", 1)[1].split("/", 1)[0]
    started = time.monotonic()
    redis.Redis.from_url(url).lpush(keys.TASKS, json.dumps(smoke_task()))
    while time.monotonic() - started < ROUND_TRIP_WITHIN_S:
        if any(float(n) >= 1 for n in REJECTED.findall(fetch(worker, "http://127.0.0.1:9191/metrics")[1])):
            result.healthy_after_s, result.exit_code = time.monotonic() - started, 0
            result.answer = f"LPUSH as wearon-app over TLS on {where}, bridge, worker: session_not_found"
            return result
        time.sleep(POLL_S)
    result.problem = f"a task LPUSHed on {where} reached no worker in {ROUND_TRIP_WITHIN_S:g} s\n"
    result.problem += "\n".join(tail(log.read_text(), 8) for log in logs)
    return result


def answer(container: sandbox.Container) -> tuple[str, str]:
    """What HEALTHCHECK_URL answered, in short; a JSON status other than "ok" is a problem (deploy.sh
    waits for "ok" through Nginx)."""
    url = container.spec.env["HEALTHCHECK_URL"]
    status, body = fetch(container, url)
    if body.lstrip().startswith("{"):
        state = json.loads(body).get("status")
        problem = "" if state in (None, "ok") else f"{url} answered status {state}"
        return f"{url} {status} {body.strip()}", problem
    series = [line for line in body.splitlines() if line and not line.startswith("#")]
    return f"{url} {status} ({len(series)} samples)", "" if status == "200" else f"{url} answered {status}"


def fetch(container: sandbox.Container, url: str) -> tuple[str, str]:
    """(status, body) of a GET from inside the container's network."""
    netns = f"--net=/proc/{container.init_pid}/ns/net"
    done = subprocess.run(
        ["nsenter", netns, sys.executable, "-c", FETCH, url], capture_output=True, text=True, timeout=10
    )
    status, _, body = done.stdout.partition("\n")
    return status, body


def smoke_task() -> dict[str, Any]:
    """A task as the Next.js API pushes it, for a session that does not exist."""
    return {
        "task_id": str(uuid4()),
        "channel": "b2c",
        "store_id": None,
        "user_id": "smoke-user",
        "session_id": str(uuid4()),
        "image_urls": ["http://supabase/storage/v1/object/public/generations/person.jpg"],
        "prompt": "smoke",
        "request_id": f"smoke-{uuid4().hex[:8]}",
        "version": 1,
        "created_at": datetime.now(UTC).isoformat(),
    }


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
