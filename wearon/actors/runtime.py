"""The worker process's services: built on first use from the settings the broker was built
from, or installed by a test."""

from __future__ import annotations

import threading

from wearon.bootstrap import Services, build_services
from wearon.settings import Settings

_lock = threading.Lock()
_settings: Settings | None = None
_services: Services | None = None


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            if _settings is None:
                raise RuntimeError("wearon.actors.runtime.configure() was not called")
            _services = build_services(_settings)
        return _services


def install(replacement: Services | None) -> None:
    """Use these services in this process (tests inject adapters pointed at stand-ins)."""
    global _services
    with _lock:
        _services = replacement
