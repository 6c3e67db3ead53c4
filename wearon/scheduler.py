"""`python -m wearon.scheduler`: periodiq's scheduler for our actors, with our JSON logs and its
metrics port. Equivalent to `periodiq wearon.worker:setup` plus the observability every process has.

Run exactly one: a second one is harmless (each tick runs once) but pointless.
"""

from __future__ import annotations

import periodiq
from prometheus_client import start_http_server

from wearon.bootstrap import configure_process_logging
from wearon.settings import load_settings


def main() -> int:
    settings = load_settings()
    configure_process_logging("scheduler", settings)
    start_http_server(settings.scheduler_metrics_port)
    args = periodiq.make_argument_parser().parse_args(["wearon.worker:setup"])
    return int(periodiq.main(args))


if __name__ == "__main__":
    raise SystemExit(main())
