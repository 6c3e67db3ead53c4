"""What Dramatiq's Redis broker holds, read straight from Redis: a message stays in its queue's
`.msgs` hash from its enqueue to its ack (queued or in a worker's hand), and in `<queue>.DQ.msgs`
while it waits for a delay (a retry)."""

from __future__ import annotations

import json
from typing import Any

import redis


def held_messages(client: redis.Redis, namespace: str, queue: str) -> list[dict[str, Any]]:
    """Every message of `queue` the broker holds: queued, in hand, or waiting for its retry."""
    stored = [client.hvals(f"{namespace}:{name}.msgs") for name in (queue, f"{queue}.DQ")]
    return [json.loads(raw) for values in stored for raw in values]
