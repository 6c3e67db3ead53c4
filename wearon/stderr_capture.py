"""Every line written to file descriptor 2 becomes a JSON log line, scrubbed like the others:
what native libraries write below Python's logging (MediaPipe's glog and absl, TFLite), and
anything else that reaches stderr (warnings, a traceback printed by hand).

`capture_stderr` points fd 2 at a pipe; a thread reads it and writes each line to standard output
as a JSON record (`logger` is "stderr", the level read from the line's glog or `LEVEL:` prefix).
A line that is a JSON object already (a child process's log line: Dramatiq's workers write theirs
to their parent's stderr) is passed on as it is, scrubbed.

- A full pipe makes a writer wait for the reader: no line is lost, nothing spins. The reader
  never writes to fd 2, so it never waits on itself.
- At exit, fd 2 is given back to the original stderr, which closes this process's write end of
  the pipe; the reader drains what is left, reaches the end, and is joined (with a timeout, since
  a child process could still hold the pipe). A native library's last words after that, at
  teardown, reach the original stderr as they are; a hard crash loses what was not read yet.
- A line longer than MAX_LINE_BYTES is cut into several records, so memory stays bounded.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO

#: glog and absl: "W0000 00:00:1795851040.045705 13354 file.cc:114] text".
_GLOG = re.compile(r"^([IWEF])\d{4} ")
_GLOG_LEVELS = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL"}
#: "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "WARNING: All log messages ...".
_PREFIX = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
_SEVERITY = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
#: A line without a level prefix on stderr is most likely a problem (a traceback, a warning).
DEFAULT_LEVEL = "WARNING"
LOGGER = "stderr"
MAX_LINE_BYTES = 1024 * 1024
JOIN_TIMEOUT_S = 2.0


def level_of(line: str) -> str:
    glog = _GLOG.match(line)
    if glog:
        return _GLOG_LEVELS[glog.group(1)]
    prefix = _PREFIX.match(line)
    return prefix.group(1) if prefix else DEFAULT_LEVEL


class StderrCapture:
    """Owns the pipe behind fd 2 and the thread that turns its lines into JSON."""

    def __init__(self, service: str, redact: Callable[[str], str], level: str = "INFO") -> None:
        self._service = service
        self._redact = redact
        self._threshold = _SEVERITY.get(level.upper(), 20)
        self._saved_fd: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        pipe = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._pump, args=(pipe,), name="stderr-capture", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        """Give fd 2 back and wait for the reader to drain the pipe."""
        if self._saved_fd is None or self._thread is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        self._saved_fd = None
        self._thread.join(JOIN_TIMEOUT_S)

    def _pump(self, pipe: BinaryIO) -> None:
        with pipe:
            for raw in iter(lambda: pipe.readline(MAX_LINE_BYTES), b""):
                self._emit(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _emit(self, line: str) -> None:
        if _is_json_object(line):
            self._write(line)
            return
        level = level_of(line)
        if not line.strip() or _SEVERITY[level] < self._threshold:
            return
        record = {"ts": datetime.now(UTC).isoformat(), "level": level, "message": line}
        self._write(json.dumps(record | {"service": self._service, "logger": LOGGER}))

    def _write(self, line: str) -> None:
        # The same stream as the JSON sink's, so that the two never write over each other.
        sys.stdout.write(self._redact(line) + "\n")
        sys.stdout.flush()


def _is_json_object(line: str) -> bool:
    if not (line.startswith("{") and line.endswith("}")):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def capture_stderr(service: str, redact: Callable[[str], str], level: str = "INFO") -> StderrCapture:
    """From now until exit, every line on fd 2 of this process (and of children it starts) is JSON."""
    capture = StderrCapture(service, redact, level)
    capture.start()
    return capture
