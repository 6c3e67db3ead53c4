"""A refund that could not be written when the generation failed (the database was away) is
handed to this actor, which retries it until the database is back. fail_and_refund is at most
once per session, so a retried or duplicated refund message cannot pay twice.

Declared on the broker by `wearon.bootstrap` with OPTIONS; importing this module declares nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import dramatiq
from dramatiq.middleware import CurrentMessage
from loguru import logger

from wearon import metrics
from wearon.actors import runtime
from wearon.actors.broker import MAX_RETRIES
from wearon.domain.failure import FailureReason
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

QUEUE = "refunds"
#: Back-off while the database is away: 5 s doubling to 5 min, for as long as MAX_RETRIES allows.
MIN_BACKOFF_S, MAX_BACKOFF_S = 5, 300


def refund_session(channel: str, session_id: str, reason: str) -> None:
    """`reason` is a FailureReason value: the generation's own, recorded as such once refunded."""
    message = CurrentMessage.get_current_message()
    attempt = message.options.get("retries", 0) if message else 0
    failed, why = Channel(channel), FailureReason(reason)
    try:
        refunded = runtime.services().store.fail_and_refund(failed, UUID(session_id), why.user_message)
    except InfrastructureError as exc:
        delay_s = min(MIN_BACKOFF_S * 2**attempt, MAX_BACKOFF_S)
        raise dramatiq.Retry(f"refund still blocked: {exc}", delay=delay_s * 1000) from exc
    if refunded:
        metrics.record_outcome(failed, why)
    logger.info("deferred refund done; refunded: {}", refunded)


OPTIONS: dict[str, Any] = {"queue_name": QUEUE, "max_retries": MAX_RETRIES}
