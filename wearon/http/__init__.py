"""The size-recommendation API: `uvicorn wearon.http:app`.

`app` is built on first access (PEP 562), not at import: building it reads the settings, and
importing this package (for `create_app`, in tests) must not.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.applications import Starlette

from wearon.http.application import create_app

__all__ = ["app", "create_app"]


@cache
def _app() -> Starlette:
    return create_app()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
