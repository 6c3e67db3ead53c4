"""The generation actor: run the use case, and turn a failure into a retry or a final failure.

Declared on the broker by `wearon.bootstrap` with OPTIONS; importing this module declares nothing.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from loguru import logger

from wearon import metrics, task_deadline
from wearon.actors import runtime
from wearon.actors.broker import MAX_RETRIES
from wearon.actors.middleware import TASK_OF
from wearon.domain.policy import Attempt, attempt_deadline_s, decide
from wearon.domain.session import ClaimOutcome
from wearon.domain.task import GenerationTask
from wearon.errors import InfrastructureError, ProviderRateLimited, WearOnError
from wearon.services import Services

QUEUE = "generation"
#: Message options that count what our policy has already retried.
RATE_LIMITED = "wearon_rate_limited"
INFRA_FAILURES = "wearon_infra_failures"


def generate(task: dict[str, Any]) -> None:
    job = GenerationTask.model_validate(task)
    message = CurrentMessage.get_current_message()
    assert message is not None  # CurrentMessage is in the middleware stack
    services = runtime.services()
    try:
        with task_deadline.running(attempt_deadline_s(_time_limit_s(message, services))):
            outcome = services.generation.run(
                job, token=message.message_id, retry=message.options.get("retries", 0) > 0
            )
    except WearOnError as exc:
        _retry_or_raise(exc, job, message, services)
        raise
    if outcome is ClaimOutcome.CLAIMED:
        metrics.record_outcome(job.channel, created_at=job.created_at)


def _time_limit_s(message: Any, services: Services) -> float:
    """The limit Dramatiq's TimeLimit holds this attempt to: the message's own, or the setting."""
    return float(message.options.get("time_limit", services.settings.task_time_limit_s * 1000)) / 1000


def task_of(message: dramatiq.Message[Any]) -> GenerationTask:
    """The task a `generate` message carries (validated by the bridge; this only reads it)."""
    return GenerationTask.model_validate(message.args[0])


OPTIONS: dict[str, Any] = {
    "queue_name": QUEUE,
    "max_retries": MAX_RETRIES,
    # Our own errors are expected outcomes, logged by the refund middleware, not tracebacks.
    "throws": (WearOnError,),
    TASK_OF: task_of,
}


def _retry_or_raise(exc: WearOnError, job: GenerationTask, message: Any, services: Services) -> None:
    """Raise dramatiq.Retry when the policy says so; return (to re-raise exc) when it is final."""
    options = message.options
    attempt = Attempt(
        rate_limited_before=options.get(RATE_LIMITED, 0),
        infra_failures_before=options.get(INFRA_FAILURES, 0),
        held_for_s=time.time() - message.message_timestamp / 1000,
    )
    decision = decide(exc, attempt, infra_retry_for_s=services.settings.infra_retry_for_s)
    if decision.retry_in_s is None:
        return
    if isinstance(exc, ProviderRateLimited):
        options[RATE_LIMITED] = attempt.rate_limited_before + 1
    if isinstance(exc, InfrastructureError):
        options[INFRA_FAILURES] = attempt.infra_failures_before + 1
    if decision.requeue:
        _requeue(job, message.message_id, services)
    logger.warning("{}: retrying in {:.0f} s", exc, decision.retry_in_s)
    raise dramatiq.Retry(str(exc), delay=int(decision.retry_in_s * 1000)) from exc


def _requeue(job: GenerationTask, token: str, services: Services) -> None:
    try:
        services.store.requeue(job.channel, job.session_id, token)
    except InfrastructureError as exc:
        # The retry re-claims its own processing claim anyway; queued is only what the user sees.
        logger.warning("could not set the session back to queued: {}", exc)
