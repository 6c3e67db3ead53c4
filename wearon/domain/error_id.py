"""The short id of an unexpected error: quoted in the failed session's message the app shows, and
logged beside the error's traceback, so a user's screenshot leads to the stack trace."""

from __future__ import annotations

import re
import secrets

#: 8 hex characters: short enough to read out, unique enough within the logs' retention.
_ID = re.compile(r"\(error id ([0-9a-f]{8})\)")


def new_error_id() -> str:
    return secrets.token_hex(4)


def with_error_id(message: str, error_id: str | None) -> str:
    """The user's message, with the id support asks for when there is one."""
    return f"{message} (error id {error_id})" if error_id else message


def error_id_in(message: str | None) -> str | None:
    """The id a session's message quotes, if any."""
    found = _ID.search(message or "")
    return found.group(1) if found else None
