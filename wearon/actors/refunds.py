"""A refund the store refused when the generation failed (the database away, or refusing us as
misconfigured) is handed to this actor, which tries it again until the store takes it, within the
bound `wearon.domain.policy.decide_refund` sets: the stuck-session threshold. Then it gives up,
loudly (an error line saying what to do, `wearon_deferred_refunds_given_up_total`, a dead letter):
the session is still queued or processing, so the stuck-session sweep fails and refunds it once
the store takes the call, or an operator does. fail_and_refund is at most once per session, so a
retried, replayed or duplicated refund message cannot pay twice.

Declared on the broker by `wearon.bootstrap` with OPTIONS; importing this module declares nothing.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import dramatiq
from dramatiq.middleware import CurrentMessage
from loguru import logger

from wearon import metrics
from wearon.actors import runtime
from wearon.actors.broker import MAX_RETRIES
from wearon.domain.error_id import with_error_id
from wearon.domain.failure import FailureReason
from wearon.domain.policy import RefundAttempt, decide_refund, failure_reason
from wearon.domain.task import Channel
from wearon.errors import WearOnError
from wearon.services import Services

QUEUE = "refunds"
#: What to fix first, by the failure reason of the store's last refusal.
_FIX_FIRST = {
    FailureReason.MISCONFIGURED: (
        "the store refuses us as misconfigured: fix what the error names (service_role's grants, the"
        " wearon_* functions, the app's refund_credits and the owner's balance, the service key)"
    ),
    FailureReason.INFRASTRUCTURE: "the database has been unreachable: bring it back",
}


def refund_session(channel: str, session_id: str, reason: str, error_id: str | None = None) -> None:
    """`reason` is a FailureReason value: the generation's own, recorded as such once refunded;
    `error_id` that of an internal error, quoted to the user as the generation would have."""
    message = CurrentMessage.get_current_message()
    assert message is not None  # CurrentMessage is in the middleware stack
    services = runtime.services()
    failed, why = Channel(channel), FailureReason(reason)
    try:
        shown = with_error_id(why.user_message, error_id)
        refunded = services.store.fail_and_refund(failed, UUID(session_id), shown)
    except WearOnError as exc:
        _retry_or_give_up(exc, message, services, failed, session_id)
        raise
    if refunded:
        metrics.record_outcome(failed, why)
    logger.info("deferred refund done; refunded: {}", refunded)


def _retry_or_give_up(
    exc: WearOnError, message: Any, services: Services, channel: Channel, session_id: str
) -> None:
    """Raise dramatiq.Retry while the policy says to try again; give up (and return, for `exc` to
    be raised: a dead letter) once it says not."""
    attempt = RefundAttempt(
        tries_before=message.options.get("retries", 0),
        owed_for_s=time.time() - message.message_timestamp / 1000,
    )
    decision = decide_refund(exc, attempt, give_up_after_s=services.settings.stuck_session_after_s)
    if decision.retry_in_s is None:
        _give_up(exc, channel, session_id, attempt)
        return
    logger.warning("deferred refund refused again ({}); tried again in {:.0f} s", exc, decision.retry_in_s)
    raise dramatiq.Retry(f"refund still refused: {exc}", delay=int(decision.retry_in_s * 1000)) from exc


def _give_up(exc: WearOnError, channel: Channel, session_id: str, attempt: RefundAttempt) -> None:
    refused = failure_reason(exc)
    metrics.DEFERRED_REFUNDS_GIVEN_UP.labels(reason=refused.value).inc()
    logger.error(
        "deferred refund of {} session {} given up after {:.0f} s and {} tries; its credit is still "
        "owed: {}. To do: {}. The stuck-session sweep then fails and refunds the session on its next "
        "tick (every minute); or refund it by hand (`wearon-admin session fail-and-refund {}`), or "
        "replay this dead letter.",
        channel,
        session_id,
        attempt.owed_for_s,
        attempt.tries_before + 1,
        exc,
        _FIX_FIRST.get(refused, "read the error above"),
        session_id,
    )


OPTIONS: dict[str, Any] = {
    "queue_name": QUEUE,
    # A safety net only: decide_refund bounds the tries by time long before this.
    "max_retries": MAX_RETRIES,
    # A refusal is an expected outcome, logged above (a retry, or the give-up line), not a traceback.
    "throws": (WearOnError,),
}
