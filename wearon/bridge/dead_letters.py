"""Dead letters: every payload the bridge could not enqueue, with the raw bytes and the reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from wearon.errors import InvalidTask


def dead_letter(raw: bytes, error: InvalidTask, now: datetime | None = None) -> bytes:
    """The JSON record pushed onto the dead-letter list; the raw payload is kept whole."""
    record: dict[str, str] = {
        "reason": error.reason,
        "kind": error.kind,
        "at": (now or datetime.now(UTC)).isoformat(),
    }
    try:
        record["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["raw_b64"] = base64.b64encode(raw).decode("ascii")
    return json.dumps(record).encode()
