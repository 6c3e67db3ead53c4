"""Maintenance: fail and refund sessions stuck in queued/processing too long, every minute
(periodiq's tick) and once when the scheduler starts (`wearon.scheduler`).

Only sessions untouched for STUCK_SESSION_AFTER_S are swept, at start too: Dramatiq redelivers a
dead worker's messages (the session is completed, not failed) and other workers may be mid-task.
periodiq has no lock of its own, so each sweep takes a lock on its minute: it runs once per minute
however many schedulers sent it, and the start-up sweep and the tick of the same minute run once.

Declared on the broker by `wearon.bootstrap` with OPTIONS; importing this module declares nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dramatiq.middleware import CurrentMessage
from loguru import logger
from periodiq import cron

from wearon import keys, metrics
from wearon.actors import runtime
from wearon.domain.failure import FailureReason

QUEUE = "maintenance"
LOCK_TTL_S = 300
#: The option periodiq's tick carries (when it was scheduled).
SCHEDULED_AT = "scheduled_at"
#: The option the scheduler's start-up sweep carries: the minute it was sent. Not scheduled_at, so
#: that periodiq does not skip it as late when the workers start after the scheduler.
STARTUP_MINUTE = "wearon_startup_minute"


def sweep_stuck_sessions() -> None:
    services = runtime.services()
    message = CurrentMessage.get_current_message()
    assert message is not None  # CurrentMessage is in the middleware stack
    minute = sweep_minute(message.options)
    kind = "start-up sweep" if STARTUP_MINUTE in message.options else "sweep"
    if minute and not services.redis.set(keys.sweep_lock(minute), 1, nx=True, ex=LOCK_TTL_S):
        logger.info("{} for {}: the sweep of this minute already ran", kind, minute)
        return
    swept = services.store.sweep_stuck(
        services.settings.stuck_session_after_s, FailureReason.STUCK.user_message
    )
    metrics.STUCK_SWEPT.inc(swept)
    logger.log(
        "WARNING" if swept else "INFO",
        "{} for {}: failed and refunded {} stuck sessions",
        kind,
        minute,
        swept,
    )


def sweep_minute(options: dict[str, Any]) -> str | None:
    """The UTC minute a sweep belongs to (its lock); None for one sent by hand, which always runs.
    Schedulers' clocks may differ by a second, and their time zones by hours."""
    if STARTUP_MINUTE in options:
        return str(options[STARTUP_MINUTE])
    if SCHEDULED_AT not in options:
        return None
    try:
        return minute_of(datetime.fromisoformat(options[SCHEDULED_AT]))
    except ValueError:  # not ISO 8601 (another periodiq): its minute, as written
        return str(options[SCHEDULED_AT])[:16]


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


OPTIONS: dict[str, Any] = {
    "queue_name": QUEUE,
    "periodic": cron("* * * * *"),
    "max_retries": 0,
    "time_limit": 55_000,
}
