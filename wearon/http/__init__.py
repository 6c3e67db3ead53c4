"""The size-recommendation API: `uvicorn wearon.http:app`.

`app` is built on first access (PEP 562), not at import: building it reads the settings, and
importing this package (for `create_app`, in tests) must not. uvicorn builds it before it writes
its first line, so the process logs JSON from then on (uvicorn's start-up lines included).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.applications import Starlette

from wearon.bootstrap import configure_process_logging
from wearon.http.application import create_app
from wearon.settings import load_settings

__all__ = ["app", "create_app"]


@cache
def _app() -> Starlette:
    settings = load_settings()
    configure_process_logging("api", settings)
    return create_app(settings)


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
