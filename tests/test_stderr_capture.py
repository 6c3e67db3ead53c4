"""wearon.stderr_capture in a process of its own: whatever reaches file descriptor 2 (a native
library's write(2), Python's stderr, a child process) comes out on stdout as JSON, scrubbed, none of
it lost when the pipe fills or when the process exits mid-line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.helpers.processes import ROOT

FLOOD = 20_000  # lines of 60 bytes: 1.2 MB, twenty times a pipe's buffer

CHILD = f"""
import os, subprocess, sys
from wearon.log import Redactor
from wearon.stderr_capture import capture_stderr

capture_stderr("probe", Redactor(["hunter2-secret"]), level="INFO")
os.write(2, b"W0000 00:00:1795851040.045705   13354 inference_feedback_manager.cc:114] native\\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
print("Traceback: password=hunter2-secret and https://x/a.png?token=abcdef", file=sys.stderr)
os.write(2, b'{{"level": "INFO", "message": "already JSON, from a child"}}\\n')
grandchild = "import sys; sys.stderr.write('from a child process\\\\n')"
subprocess.run([sys.executable, "-c", grandchild], check=True)
for n in range({FLOOD}):
    os.write(2, b"I0000 flood line %06d " % n + b"x" * 36 + b"\\n")
os.write(2, b"E0000 the last words, with no newline")
"""


def run_child() -> tuple[list[dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, timeout=60, check=True
    )
    lines = done.stdout.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON, or this raises
    assert all(isinstance(r, dict) for r in records)
    return records, done.stderr.decode()


def test_every_line_on_fd_2_becomes_a_json_line_on_stdout() -> None:
    records, stderr = run_child()
    assert stderr == ""
    messages = [r["message"] for r in records]
    # Native glog and absl lines, with their levels
    [native] = [r for r in records if r["message"].endswith("] native")]
    assert (native["level"], native["logger"], native["service"]) == ("WARNING", "stderr", "probe")
    assert any(r["level"] == "INFO" and "XNNPACK" in r["message"] for r in records)
    # Python's stderr and a child process's, scrubbed
    [scrubbed] = [m for m in messages if m.startswith("Traceback")]
    assert "hunter2" not in scrubbed and "abcdef" not in scrubbed
    assert "from a child process" in messages
    # A JSON line is passed on as it is
    assert {"level": "INFO", "message": "already JSON, from a child"} in records
    # Nothing lost: not while the pipe was full, not at exit in the middle of a line
    assert sum(m.startswith("I0000 flood line") for m in messages) == FLOOD
    assert records[-1]["message"] == "E0000 the last words, with no newline"
    assert records[-1]["level"] == "ERROR"
