"""Every Redis key wearon reads or writes (Dramatiq's own live under its namespace)."""

from __future__ import annotations

#: The Next.js API LPUSHes JSON tasks here; the contract is byte-for-byte.
TASKS = "wearon:tasks:generation"
#: Dead letters: JSON {raw, reason, at} for every payload the bridge could not enqueue.
DEAD_LETTERS = "wearon:tasks:dead"
#: Why each of Dramatiq's dead messages died (Dramatiq keeps only the message): message id ->
#: JSON {error, error_id, at}; pruned with the dead letters' retention.
DRAMATIQ_DEAD_ERRORS = "wearon:dramatiq:dead-errors"
#: Set while an operator has paused the bridge's intake (`wearon-admin intake pause`).
INTAKE_PAUSED = "wearon:intake:paused"
#: Shared by every worker process: the provider's requests-per-minute budget.
PROVIDER_RATE_LIMIT = "wearon:ratelimit:openai"
#: Held (a few seconds, renewed) by the one bridge that reports the shared queue depths.
QUEUE_DEPTHS_LEASE = "wearon:lease:queue-depths"


def bridge_processing(bridge_id: str) -> str:
    """Tasks a bridge has taken but not yet handed to Dramatiq (re-driven on start)."""
    return f"wearon:tasks:processing:{bridge_id}"


def kept_result(channel: str, session_id: str) -> str:
    """A generated image the provider was paid for, kept until it is stored (with a TTL)."""
    return f"wearon:result:{channel}:{session_id}"


def sweep_lock(minute: str) -> str:
    """One stuck-session sweep per UTC minute (`2026-01-31T12:05`), however many schedulers sent
    it, the start-up sweep included."""
    return f"wearon:lock:sweep-stuck:{minute}"
