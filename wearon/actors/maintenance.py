"""Periodic maintenance, scheduled by periodiq: fail and refund sessions stuck too long.

There is no clean-up at start: Dramatiq redelivers a dead worker's messages and other
workers may be mid-task. periodiq has no lock of its own, so each tick runs once per
minute however many schedulers enqueued it.

Declared on the broker by `wearon.bootstrap` with OPTIONS; importing this module declares nothing.
"""

from __future__ import annotations

from typing import Any

from dramatiq.middleware import CurrentMessage
from loguru import logger
from periodiq import cron

from wearon import keys, metrics
from wearon.actors import runtime
from wearon.domain.failure import FailureReason

QUEUE = "maintenance"
LOCK_TTL_S = 300


def sweep_stuck_sessions() -> None:
    services = runtime.services()
    message = CurrentMessage.get_current_message()
    assert message is not None  # CurrentMessage is in the middleware stack
    scheduled_at = message.options.get("scheduled_at")
    # Schedulers' clocks may differ by a second: one run per minute.
    if scheduled_at and not services.redis.set(keys.sweep_lock(scheduled_at[:16]), 1, nx=True, ex=LOCK_TTL_S):
        logger.info("sweep for {} already ran", scheduled_at[:16])
        return
    swept = services.store.sweep_stuck(
        services.settings.stuck_session_after_s, FailureReason.STUCK.user_message
    )
    metrics.STUCK_SWEPT.inc(swept)
    if swept:
        logger.warning("failed and refunded {} stuck sessions", swept)


OPTIONS: dict[str, Any] = {
    "queue_name": QUEUE,
    "periodic": cron("* * * * *"),
    "max_retries": 0,
    "time_limit": 55_000,
}
