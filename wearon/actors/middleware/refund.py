"""Fails the session and refunds its one credit when a generation message is dead-lettered.

`before_nack` is the hook that fires exactly once per dead-lettered message, whatever the
cause: retries exhausted, a non-retryable error, the time limit or the age limit. (The
actor-level `on_failure` callback fires on every failed attempt, and a middleware after
Retries never sees `message.failed`.) The store's fail_and_refund is itself at-most-once
per session, so a redelivered or duplicate message cannot refund twice.

A generation is a message whose actor declares the TASK_OF option (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import dramatiq
from dramatiq.middleware import TimeLimitExceeded
from loguru import logger

from wearon import metrics
from wearon.actors.middleware import TASK_OF, error_id_of, task_of
from wearon.domain.error_id import with_error_id
from wearon.domain.failure import FailureReason
from wearon.domain.policy import failure_reason
from wearon.domain.task import Channel
from wearon.errors import WearOnError
from wearon.ports import SessionStore

#: Message option carrying the last failure's reason from the attempt to the nack.
REASON_OPTION = "wearon_failure"

#: (channel, session, why, the internal error's id or None)
DeferRefund = Callable[[Channel, UUID, FailureReason, str | None], None]


class RefundOnFinalFailure(dramatiq.Middleware):
    actor_options = {TASK_OF}

    def __init__(self, store: Callable[[], SessionStore], defer: DeferRefund) -> None:
        self._store = store
        self._defer = defer

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            message.options[REASON_OPTION] = reason_of(exception).value

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        message.options[REASON_OPTION] = FailureReason.EXPIRED.value

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        task = task_of(broker, message)
        if task is None:
            return
        reason = FailureReason(message.options.get(REASON_OPTION, FailureReason.INTERNAL_ERROR))
        # The id of an unexpected error (ErrorIds), for support to find its traceback.
        error_id = error_id_of(message)
        shown = with_error_id(reason.user_message, error_id)
        try:
            refunded = self._store().fail_and_refund(task.channel, task.session_id, shown)
        except WearOnError as exc:
            # Durable in the broker, tried again until the store takes it (the database is back, or
            # its misconfiguration fixed), within a bound; the stuck-session sweep is the net under it.
            refused = failure_reason(exc)
            logger.error(
                "generation failed ({}); refund deferred, the store refused it ({}): {}", reason, refused, exc
            )
            metrics.REFUNDS_DEFERRED.labels(reason=refused.value).inc()
            self._defer(task.channel, task.session_id, reason, error_id)
            return
        if refunded:
            metrics.record_outcome(task.channel, reason)
            logger.info("generation failed ({}); one credit refunded", reason)
        else:
            logger.info("generation failed ({}); no refund: the session was already finished", reason)


def reason_of(exception: BaseException) -> FailureReason:
    if isinstance(exception, TimeLimitExceeded):
        return FailureReason.TIME_LIMIT
    if isinstance(exception, dramatiq.Retry) and exception.__cause__ is not None:
        return failure_reason(exception.__cause__)
    return failure_reason(exception)
