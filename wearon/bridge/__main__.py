"""`python -m wearon.bridge`: wire the bridge from the settings and run it until SIGTERM."""

from __future__ import annotations

import signal
import threading

from dramatiq.errors import BrokerConnectionError
from loguru import logger
from prometheus_client import start_http_server

from wearon.bootstrap import build_storage, redis_client, secrets_of
from wearon.bridge.bridge import Bridge
from wearon.bridge.depths import DepthReporter
from wearon.domain.task import GenerationTask
from wearon.log import configure_logging
from wearon.settings import load_settings


def main() -> int:
    settings = load_settings()
    configure_logging("bridge", level=settings.log_level, secrets=secrets_of(settings))
    from wearon.actors import broker, generate  # declares the broker
    from wearon.actors.broker import pipelined

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def enqueue(task: GenerationTask) -> None:
        generate.send(task.model_dump(mode="json"))

    client = redis_client(settings)
    store, _ = build_storage(settings)
    bridge = Bridge(
        client,
        enqueue=enqueue,
        refund=store.fail_and_refund,
        batch=lambda: pipelined(broker),
        bridge_id=settings.bridge_id,
        broker_errors=(BrokerConnectionError,),
    )
    start_http_server(settings.bridge_metrics_port)
    DepthReporter(client, broker, bridge_id=settings.bridge_id).start(stop)
    logger.info("bridge started")
    bridge.run(stop)
    logger.info("bridge stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
