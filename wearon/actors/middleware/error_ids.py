"""Gives every unexpected error (a bug, not one of our WearOnErrors) a short error id, and logs its
traceback once under that id: the refund middleware quotes the id in the failed session's message,
and the dead-letter recorder keeps it beside the dead message."""

from __future__ import annotations

from typing import Any

import dramatiq
from loguru import logger

from wearon.actors.middleware import ERROR_ID_OPTION
from wearon.actors.middleware.refund import reason_of
from wearon.domain.error_id import new_error_id
from wearon.domain.failure import FailureReason


class ErrorIds(dramatiq.Middleware):
    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or reason_of(exception) is not FailureReason.INTERNAL_ERROR:
            return
        error_id = new_error_id()
        message.options[ERROR_ID_OPTION] = error_id
        logger.bind(error_id=error_id).opt(exception=exception).error(
            "unexpected error in {} (error id {})", message.actor_name, error_id
        )
