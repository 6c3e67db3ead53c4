"""Records why a message died, beside it: Dramatiq's dead letters keep the message as it was
enqueued, so without this an operator could read what failed but not why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from loguru import logger
from redis import RedisError

from wearon.actors.middleware import error_id_of

#: Message option carrying the last attempt's error to the nack.
LAST_ERROR_OPTION = "wearon_last_error"
#: Enough to read the error; its traceback is in the logs (ErrorIds, under the error id).
MAX_ERROR_CHARS = 500

#: Stores (message id, the error in one line, its error id or None).
Record = Callable[[str, str, str | None], None]


class DeadLetterErrors(dramatiq.Middleware):
    def __init__(self, record: Record, redact: Callable[[str], str]) -> None:
        self._record = record
        self._redact = redact

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None:
            cause = exception.__cause__ if isinstance(exception, dramatiq.Retry) else None
            message.options[LAST_ERROR_OPTION] = _one_line(cause or exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        message.options[LAST_ERROR_OPTION] = "expired: the age limit skipped it before it ran"

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        error = self._redact(message.options.get(LAST_ERROR_OPTION, "unknown"))
        # The Redis broker files a dead message under this id, not the message id.
        dead_id = message.options.get("redis_message_id", message.message_id)
        try:
            self._record(dead_id, error, error_id_of(message))
        except RedisError as exc:
            # The message still dies and is kept; only the reason beside it is lost (it is logged).
            logger.warning("could not record why message {} died ({}): {}", message.message_id, exc, error)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
