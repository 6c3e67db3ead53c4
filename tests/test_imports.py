"""Importing declares; `wearon.bootstrap` builds. Every entry-point module imports with no settings
read, no connection made, no broker declared, no thread started and no model loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = (
    "wearon.actors",
    "wearon.actors.generation",
    "wearon.actors.refunds",
    "wearon.actors.maintenance",
    "wearon.worker",
    "wearon.scheduler",
    "wearon.bridge.__main__",
    "wearon.bootstrap",
    "wearon.http",
    "wearon.http.application",
)
#: Runs in a fresh interpreter: records every connection and every read of a settings file.
PROBE = """
import importlib, json, sys, threading
seen = []
def watch(event, args):
    if event == "socket.connect" or (event == "open" and str(args[0]).endswith(".env")):
        seen.append(f"{event} {args[-1] if event == 'socket.connect' else args[0]}")
sys.addaudithook(watch)
import dramatiq.broker
threads = threading.active_count()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({
    "seen": seen,
    "broker_declared": dramatiq.broker.global_broker is not None,
    "threads_started": threading.active_count() - threads,
    "pose_model_imported": "mediapipe" in sys.modules,
}))
"""


def test_importing_the_entry_points_does_no_io(tmp_path: Path) -> None:
    # Given settings that would fail if read (a .env in the working directory), and a Redis that
    # is not there
    (tmp_path / ".env").write_text("OPENAI_MAX_RETRIES=not-a-number\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DRAMATIQ", "SUPABASE"))}
    env.update(REDIS_URL="redis://127.0.0.1:9/0", PYTHONPATH=str(ROOT))
    # When every entry point is imported
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *MODULES],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then nothing was read, connected, declared, started or loaded
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "seen": [],
        "broker_declared": False,
        "threads_started": 0,
        "pose_model_imported": False,
    }
