"""The generation actor: run the use case, and turn a failure into a retry or a final failure."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from loguru import logger

from wearon import metrics
from wearon.actors import runtime
from wearon.actors.broker import MAX_RETRIES
from wearon.bootstrap import Services
from wearon.domain.policy import Attempt, decide
from wearon.domain.session import ClaimOutcome
from wearon.domain.task import GenerationTask
from wearon.errors import InfrastructureError, ProviderRateLimited, WearOnError

QUEUE = "generation"
#: Message options that count what our policy has already retried.
RATE_LIMITED = "wearon_rate_limited"
INFRA_FAILURES = "wearon_infra_failures"


# `throws`: our own errors are expected outcomes, logged by the refund middleware, not tracebacks.
@dramatiq.actor(queue_name=QUEUE, max_retries=MAX_RETRIES, throws=(WearOnError,))
def generate(task: dict[str, Any]) -> None:
    job = GenerationTask.model_validate(task)
    message = CurrentMessage.get_current_message()
    assert message is not None  # CurrentMessage is in the middleware stack
    services = runtime.services()
    try:
        outcome = services.generation.run(
            job, token=message.message_id, retry=message.options.get("retries", 0) > 0
        )
    except WearOnError as exc:
        _retry_or_raise(exc, job, message, services)
        raise
    if outcome is ClaimOutcome.CLAIMED:
        _record_completion(job)


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


def _record_completion(job: GenerationTask) -> None:
    metrics.GENERATIONS.labels(channel=job.channel.value, outcome="completed", reason="").inc()
    age = (datetime.now(UTC) - job.created_at).total_seconds()
    metrics.GENERATION_SECONDS.labels(channel=job.channel.value).observe(max(age, 0.0))
