"""What every command works on, built once per invocation from the settings (or given by a test),
and the options every read or write command shares."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from wearon.bootstrap import Admin, build_admin, secrets_of
from wearon.log import configure_logging
from wearon.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
yes_option = click.option("--yes", is_flag=True, help="Do it without asking.")


def admin() -> Admin:
    """The wired objects, built on the first command that needs them."""
    root = click.get_current_context().find_root()
    if root.obj is None:
        root.obj = build_admin(settings())
    return root.obj  # type: ignore[no-any-return]


def settings() -> Settings:
    """The settings, read once per invocation, with logging set up for a command line."""
    root = click.get_current_context().find_root()
    if root.meta.get(_SETTINGS) is None:
        loaded = load_settings()
        # Log lines (ours and the libraries') go to stderr, scrubbed: stdout stays the answer.
        configure_logging("admin", level="WARNING", secrets=secrets_of(loaded), stream=sys.stderr)
        root.meta[_SETTINGS] = loaded
    return root.meta[_SETTINGS]  # type: ignore[no-any-return]


_SETTINGS = "wearon.settings"


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text(data))


def confirm(yes: bool, question: str) -> None:
    if not yes:
        click.confirm(question, abort=True)
