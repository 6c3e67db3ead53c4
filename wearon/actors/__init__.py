"""Dramatiq entry point: `dramatiq wearon.actors` (workers), `periodiq wearon.actors` (schedule).

The broker must exist before any actor is declared, so it is built here, from the settings,
and the actor modules are imported after it.
"""

from __future__ import annotations

from uuid import UUID

import dramatiq

from wearon.actors import runtime
from wearon.actors.broker import build_broker, enqueue_until_sent
from wearon.bootstrap import secrets_of
from wearon.domain.task import Channel
from wearon.log import configure_logging
from wearon.settings import load_settings

_settings = load_settings()
runtime.configure(_settings)


def _defer_refund(channel: Channel, session_id: UUID, reason: str) -> None:
    # refund_session is declared below, once the broker exists; this runs long after.
    enqueue_until_sent(broker, refund_session.message(channel.value, str(session_id), reason))


broker = build_broker(
    _settings,
    store=lambda: runtime.services().store,
    defer_refund=_defer_refund,
    configure_logging=lambda: configure_logging(
        "worker", level=_settings.log_level, secrets=secrets_of(_settings)
    ),
)
dramatiq.set_broker(broker)

from wearon.actors.generation import generate  # noqa: E402
from wearon.actors.maintenance import sweep_stuck_sessions  # noqa: E402
from wearon.actors.refunds import refund_session  # noqa: E402

__all__ = ["broker", "generate", "refund_session", "sweep_stuck_sessions"]
