"""How a pydantic ValidationError is told in one line, wherever input is validated: settings,
queue payloads and API requests. Never with the input itself, which may be large or secret."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def describe(exc: ValidationError, *, whole: str = "", env_names: bool = False) -> str:
    """`where: what` for each error, `; `-separated. `where` is the field's dotted path (or, with
    `env_names`, its environment variable's name), or `whole` when the model itself is at fault."""
    errors = exc.errors(include_input=False, include_url=False)
    return "; ".join(_one(error, whole, env_names) for error in errors)


def _one(error: Any, whole: str, env_names: bool) -> str:
    parts = [str(p) for p in error["loc"]]
    where = ("_".join(parts).upper() if env_names else ".".join(parts)) or whole
    return f"{where}: {error['msg']}" if where else str(error["msg"])
