"""wearon's Dramatiq middleware, one per file.

An actor that runs a generation declares the actor option TASK_OF: how to read the
GenerationTask its message carries. The middleware key on that option, never on an actor's name
or on the raw arguments, so renaming an actor cannot quietly stop its refunds or its log fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.errors import ActorNotFound
from pydantic import ValidationError

from wearon.domain.task import GenerationTask

TASK_OF = "task_of"
#: Message option: the short id of an unexpected error (set by ErrorIds, quoted by the refund and
#: kept with the dead letter).
ERROR_ID_OPTION = "wearon_error_id"
TaskOf = Callable[[dramatiq.Message[Any]], GenerationTask]


def error_id_of(message: Any) -> str | None:
    """The id ErrorIds gave the unexpected error that ended `message`'s last attempt, if any."""
    found = message.options.get(ERROR_ID_OPTION)
    return str(found) if found else None


def task_of(broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> GenerationTask | None:
    """The generation task `message` carries, or None if its actor runs none (or it is unreadable)."""
    try:
        read: TaskOf | None = broker.get_actor(message.actor_name).options.get(TASK_OF)
    except ActorNotFound:
        return None
    if read is None:
        return None
    try:
        return read(message)
    except (ValidationError, IndexError, TypeError):
        return None
