"""The worker process's services, built on first use (after Dramatiq forked the process) by the
factory `wearon.bootstrap` configured, or installed by a test."""

from __future__ import annotations

import threading
from collections.abc import Callable

from wearon.services import Services

_lock = threading.Lock()
_factory: Callable[[], Services] | None = None
_services: Services | None = None


def configure(factory: Callable[[], Services]) -> None:
    global _factory
    _factory = factory


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            if _factory is None:
                raise RuntimeError("wearon.actors.runtime.configure() was not called")
            _services = _factory()
        return _services


def install(replacement: Services | None) -> None:
    """Use these services in this process (tests inject adapters pointed at stand-ins)."""
    global _services
    with _lock:
        _services = replacement
