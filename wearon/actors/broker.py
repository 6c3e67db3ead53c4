"""Builds the Dramatiq broker, with our middleware stack, from the settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.middleware.prometheus import Prometheus
from periodiq import PeriodiqMiddleware

from wearon.actors.middleware.log_context import LogContext
from wearon.actors.middleware.refund import DeferRefund, RefundOnFinalFailure
from wearon.ports import SessionStore
from wearon.settings import Settings

#: A safety net only: wearon.domain.policy bounds every retry long before this.
MAX_RETRIES = 50
#: Dramatiq's defaults (60 s, 0.1 %) leave a dead worker's messages stranded for minutes. A live
#: worker heartbeats with every broker command, and its idle consumers (the delay queues, the
#: maintenance queue) poll about once a second even while every worker thread is busy. A
#: maintenance pass with no dead worker is two cheap sorted-set reads.
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 100_000  # per million commands, i.e. 10 %


def should_retry(retries: int, exception: BaseException) -> bool:
    """Only an explicit dramatiq.Retry (raised by our policy) is retried; everything else is final."""
    return isinstance(exception, dramatiq.Retry) and retries < MAX_RETRIES


class PipelinedRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, plus `pipelined()`: the enqueues of a block share one round trip.

    The bridge's burst path needs it (2,000 tasks/s is out of reach at one round trip per task).
    Each message still goes through `enqueue` and the middleware's enqueue hooks; only the call of
    Dramatiq's dispatch script is queued on a pipeline, sent when the block ends.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._pending = threading.local()
        dispatch = self.scripts["dispatch"]

        def dispatch_here(keys: list[str], args: list[Any]) -> Any:
            return dispatch(keys=keys, args=args, client=getattr(self._pending, "pipe", None))

        self.scripts["dispatch"] = dispatch_here

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """Queue this thread's enqueues; send them together when the block ends without error."""
        pipe = self.client.pipeline(transaction=False)
        self._pending.pipe = pipe
        try:
            yield
        finally:
            self._pending.pipe = None
        pipe.execute()


def pipelined(broker: dramatiq.Broker) -> AbstractContextManager[None]:
    """A batch of enqueues in one round trip where the broker can; one by one elsewhere (RabbitMQ)."""
    return broker.pipelined() if isinstance(broker, PipelinedRedisBroker) else nullcontext()


def build_broker(
    settings: Settings,
    *,
    store: Callable[[], SessionStore],
    defer_refund: DeferRefund,
    configure_logging: Callable[[], None],
) -> dramatiq.Broker:
    middleware = [
        Prometheus(),
        AgeLimit(),
        TimeLimit(time_limit=settings.task_time_limit_s * 1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        Retries(max_retries=MAX_RETRIES, retry_when=should_retry),
        PeriodiqMiddleware(skip_delay=30),
        LogContext(configure_logging),
        RefundOnFinalFailure(store, defer_refund),
    ]
    url = settings.effective_broker_url
    if url.startswith(("amqp://", "amqps://")):
        return RabbitmqBroker(url=url, middleware=middleware)
    return PipelinedRedisBroker(
        url=url,
        namespace=settings.dramatiq_namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
        middleware=middleware,
    )
