"""What Dramatiq's Redis broker holds, read straight from Redis: a message stays in its queue's
`.msgs` hash from its enqueue to its ack (queued or in a worker's hand), and in `<queue>.DQ.msgs`
while it waits for a delay (a retry). A retry is enqueued on the delay queue before the attempt is
acked, so for a moment one message is in both, the delayed copy the newer."""

from __future__ import annotations

import json
from typing import Any

import redis


def held_messages(client: redis.Redis, namespace: str, queue: str) -> list[dict[str, Any]]:
    """Every message of `queue` the broker holds, once each: queued, in hand, or waiting for its retry."""
    held: dict[str, dict[str, Any]] = {}
    for name in (queue, f"{queue}.DQ"):  # the delayed copy last: it wins
        for raw in client.hvals(f"{namespace}:{name}.msgs"):
            message = json.loads(raw)
            held[message["message_id"]] = message
    return list(held.values())
