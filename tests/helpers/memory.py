"""The peak memory of one decode, measured in a fresh process.

`python -m tests.helpers.memory FILE MAX_SIDE` decodes FILE as the worker and the API do (on the
decode threads) and prints, as JSON, the outcome (the size decoded to, or the refusal's code),
the CPU time, and the peak RSS growth: VmHWM after the decode minus VmRSS before it, in MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from tests.helpers.images import encoded

ROOT = Path(__file__).resolve().parents[2]


def decode_in_fresh_process(path: Path, max_side: int, arenas: str = "2") -> dict[str, object]:
    env = os.environ | {"MALLOC_ARENA_MAX": arenas}
    out = subprocess.run(
        [sys.executable, "-m", "tests.helpers.memory", str(path), str(max_side)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    from wearon.errors import ImageRejected
    from wearon.images import decode_image

    path, max_side = Path(sys.argv[1]), int(sys.argv[2])
    data = path.read_bytes()
    fmt = {"jpg": "JPEG"}.get(path.suffix[1:], path.suffix[1:].upper())
    decode_image(encoded(Image.new("RGB", (32, 24)), fmt))  # the codec and the decode threads ready
    before, started = _status_kb("VmRSS"), time.process_time()
    try:
        img = decode_image(data, max_side=max_side)
        outcome = f"{img.width}x{img.height}"
    except ImageRejected as exc:
        outcome = exc.code
    growth = (_status_kb("VmHWM") - before) / 1024
    cpu_ms = 1000 * (time.process_time() - started)
    print(json.dumps({"outcome": outcome, "cpu_ms": cpu_ms, "growth_mb": growth}))


if __name__ == "__main__":
    main()
