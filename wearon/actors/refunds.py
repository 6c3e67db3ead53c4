"""A refund that could not be written when the generation failed (the database was away) is
handed to this actor, which retries it until the database is back. fail_and_refund is at most
once per session, so a retried or duplicated refund message cannot pay twice."""

from __future__ import annotations

from uuid import UUID

import dramatiq
from dramatiq.middleware import CurrentMessage
from loguru import logger

from wearon import metrics
from wearon.actors import runtime
from wearon.actors.broker import MAX_RETRIES
from wearon.domain.task import Channel
from wearon.errors import InfrastructureError

QUEUE = "refunds"
#: Back-off while the database is away: 5 s doubling to 5 min, for as long as MAX_RETRIES allows.
MIN_BACKOFF_S, MAX_BACKOFF_S = 5, 300


@dramatiq.actor(queue_name=QUEUE, max_retries=MAX_RETRIES)
def refund_session(channel: str, session_id: str, reason: str) -> None:
    message = CurrentMessage.get_current_message()
    attempt = message.options.get("retries", 0) if message else 0
    try:
        refunded = runtime.services().store.fail_and_refund(Channel(channel), UUID(session_id), reason)
    except InfrastructureError as exc:
        delay_s = min(MIN_BACKOFF_S * 2**attempt, MAX_BACKOFF_S)
        raise dramatiq.Retry(f"refund still blocked: {exc}", delay=delay_s * 1000) from exc
    if refunded:
        metrics.CREDITS_REFUNDED.labels(channel=channel).inc()
        metrics.GENERATIONS.labels(channel=channel, outcome="failed", reason="deferred").inc()
    logger.info("deferred refund done; refunded: {}", refunded)
