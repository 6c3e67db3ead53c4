"""The parts our Dramatiq broker is made of (`wearon.bootstrap` assembles them): a Redis broker
that can pipeline a batch of enqueues, retries that survive a broker outage, and the retry rule."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Retries
from dramatiq.threading import Interrupt
from loguru import logger

#: A safety net only: wearon.domain.policy bounds every retry long before this.
MAX_RETRIES = 50
#: Dramatiq's defaults (60 s, 0.1 %) leave a dead worker's messages stranded for minutes. A live
#: worker heartbeats with every broker command, and its idle consumers (the delay queues, the
#: maintenance queue) poll about once a second even while every worker thread is busy. A
#: maintenance pass with no dead worker is two cheap sorted-set reads.
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 100_000  # per million commands, i.e. 10 %
#: While the broker is away an enqueue is tried again this often (Dramatiq waits as long between
#: attempts to ack).
BROKER_AWAY_RETRY_S = 5.0
BROKER_AWAY = (redis.ConnectionError, redis.TimeoutError, BrokerConnectionError)


def should_retry(retries: int, exception: BaseException) -> bool:
    """Only an explicit dramatiq.Retry (raised by our policy) is retried; everything else is final."""
    return isinstance(exception, dramatiq.Retry) and retries < MAX_RETRIES


def enqueue_until_sent(
    broker: dramatiq.Broker,
    message: dramatiq.Message[Any],
    *,
    delay: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Enqueue, waiting out a broker outage rather than losing the message."""
    while True:
        try:
            if _enqueued(broker, message, delay, sleep):
                return
        except Interrupt as exc:
            # The task's time limit (or a shutdown notice) fired during a long outage; the task has
            # already ended, and what it asked for must still reach the broker.
            logger.warning("{} while waiting for the broker; still waiting", type(exc).__name__)


def _enqueued(
    broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None, sleep: Callable[[float], None]
) -> bool:
    try:
        broker.enqueue(message, delay=delay)
        return True
    except BROKER_AWAY as exc:
        logger.warning(
            "broker unavailable ({}); enqueue of {} tried again in {:g} s",
            type(exc).__name__,
            message.message_id,
            BROKER_AWAY_RETRY_S,
        )
        sleep(BROKER_AWAY_RETRY_S)
        return False


class DurableRetries(Retries):
    """Dramatiq's Retries, except that a retry is never dropped because the broker is away.

    Retries re-enqueues the message in after_process_message. When Redis is restarting that
    enqueue raises, Dramatiq logs and swallows the error, then acks the original (retrying the ack
    until Redis is back): the task would be lost. Here the re-enqueue waits for the broker too,
    before the ack, so a worker killed meanwhile loses nothing either: the unacked original is
    redelivered (a duplicate is harmless at the actor).
    """

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, **options: Any) -> None:
        super().__init__(**options)
        self._sleep = sleep

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        patient = cast(dramatiq.Broker, _PatientEnqueue(broker, self._sleep))
        super().after_process_message(patient, message, result=result, exception=exception)  # type: ignore[no-untyped-call]


class _PatientEnqueue:
    """The broker as Retries sees it: the same, but its enqueue waits out an outage."""

    def __init__(self, broker: dramatiq.Broker, sleep: Callable[[float], None]) -> None:
        self._broker = broker
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        enqueue_until_sent(self._broker, message, delay=delay, sleep=self._sleep)
        return message


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
