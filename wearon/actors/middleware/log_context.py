"""JSON logging for worker processes, and the task's fields on every line a message causes.

Dramatiq writes about a message from several threads, and each needs the fields:
- the worker thread that runs it: the context is bound around all of `process_message`, so the
  "Received" line, every middleware hook, the retry, the refund and the ack or nack carry them;
- the consumer thread that receives it: bound around `handle_message` (onto the work or delay
  queue). When a delayed message (a retry) is due, the consumer re-enqueues and acks it in a loop
  of its own, and the time limit is enforced from a timer thread: those lines name the message or
  the worker thread, and a filter looks the fields up by that name;
- messages sent while one is handled (a deferred refund) carry its fields in their options.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.common import dq_name, q_name
from dramatiq.middleware import TimeLimit
from loguru import logger

from wearon.actors.middleware import TASK_OF, task_of
from wearon.log import CONTEXT_FIELDS, RECORD_FIELDS

#: Message option with the log fields of the message that sent this one.
CONTEXT_OPTION = "wearon_log_context"


class LogContext(dramatiq.Middleware):
    actor_options = {TASK_OF}

    def __init__(self, configure: Callable[[], None]) -> None:
        self._configure = configure
        # Worker thread id -> the fields of the message it runs; delayed message id -> its fields.
        self._known: dict[int | str, dict[str, str]] = {}

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # Dramatiq's CLI has set up stdlib logging by now; take it over.
        self._configure()
        broker.logger.addFilter(self._name_known)
        for middleware in broker.middleware:
            if isinstance(middleware, TimeLimit):
                middleware.logger.addFilter(self._name_known)

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        process = thread.process_message

        def process_in_context(message: Any) -> None:
            fields = task_fields(broker, message)
            self._known[threading.get_ident()] = fields
            try:
                with logger.contextualize(**fields):
                    process(message)
            finally:
                self._known.pop(threading.get_ident(), None)

        thread.process_message = process_in_context

    def after_consumer_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        handle = thread.handle_message

        def handle_in_context(message: Any) -> None:
            fields = task_fields(broker, message)
            if "eta" in message.options:
                self._known[message.message_id] = fields
            with logger.contextualize(**fields):
                handle(message)

        thread.handle_message = handle_in_context
        thread.logger.addFilter(self._name_known)

    def after_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._forget_delayed(message)

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._forget_delayed(message)

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        fields = self._known.get(threading.get_ident())
        if fields and CONTEXT_OPTION not in message.options and not task_of(broker, message):
            message.options[CONTEXT_OPTION] = {k: v for k, v in fields.items() if k in CONTEXT_FIELDS}

    def _forget_delayed(self, message: Any) -> None:
        # Only once its delay-queue copy is acked: the retried original is acked after the copy
        # may already have been received.
        if message.queue_name == dq_name(q_name(message.queue_name)):
            self._known.pop(message.message_id, None)

    def _name_known(self, record: logging.LogRecord) -> bool:
        """Give a line that names a known message or worker thread that message's fields."""
        for arg in record.args if isinstance(record.args, tuple) else ():
            fields = self._known.get(arg) if isinstance(arg, int | str) else None
            if fields:
                setattr(record, RECORD_FIELDS, fields)
                break
        return True


def task_fields(broker: dramatiq.Broker, message: Any) -> dict[str, str]:
    """The log fields of a message: its generation task's, or those of the message that sent it."""
    task = task_of(broker, message)
    fields = task.log_fields if task else dict(message.options.get(CONTEXT_OPTION) or {})
    fields["message_id"] = message.message_id
    return fields
