"""`python -m wearon.scheduler`: periodiq's scheduler for our actors, with our JSON logs and its
metrics port. Equivalent to `periodiq wearon.worker:setup` plus the observability every process has,
and one stuck-session sweep sent when it starts (the product recovers stuck sessions at start; see
`wearon.actors.maintenance` and the README's "Recovery at start").

Run exactly one: a second one is harmless (each tick runs once) but pointless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import periodiq
from loguru import logger
from prometheus_client import start_http_server

from wearon.actors.broker import enqueue_until_sent
from wearon.actors.maintenance import STARTUP_MINUTE, minute_of
from wearon.bootstrap import Messaging, configure_process_logging, exit_if_misconfigured, setup_worker
from wearon.settings import load_settings


def main() -> int:
    settings = load_settings()
    configure_process_logging("scheduler", settings)
    exit_if_misconfigured("scheduler", settings)
    start_http_server(settings.scheduler_metrics_port)
    send_startup_sweep(setup_worker(settings))
    # The module alone: periodiq takes the broker just declared instead of declaring another.
    args = periodiq.make_argument_parser().parse_args(["wearon.worker"])
    return int(periodiq.main(args))


def send_startup_sweep(messaging: Messaging) -> None:
    """One sweep now, locked on this minute like the tick (so the two run once). It waits in the
    queue for the first worker, however late that starts; a broker outage is waited out."""
    minute = minute_of(datetime.now(UTC))
    options: dict[str, Any] = {STARTUP_MINUTE: minute}
    message = messaging.actors.sweep_stuck_sessions.message_with_options(args=(), **options)
    enqueue_until_sent(messaging.broker, message)
    logger.info("start-up sweep for {} sent", minute)


if __name__ == "__main__":
    raise SystemExit(main())
