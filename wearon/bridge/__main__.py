"""`python -m wearon.bridge`: the bridge, wired by `wearon.bootstrap`, run until SIGTERM."""

from __future__ import annotations

import signal
import threading

from loguru import logger
from prometheus_client import start_http_server

from wearon.bootstrap import build_bridge, build_retention, configure_process_logging, exit_if_misconfigured
from wearon.settings import load_settings


def main() -> int:
    settings = load_settings()
    configure_process_logging("bridge", settings)
    exit_if_misconfigured("bridge", settings)
    bridge, depths = build_bridge(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    start_http_server(settings.bridge_metrics_port)
    depths.start(stop)
    build_retention(settings).start(stop)
    logger.bind(bridge_id=settings.bridge_id).info("bridge started")
    bridge.run(stop)
    logger.info("bridge stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
