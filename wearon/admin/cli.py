"""The command tree; our errors become one `Error: ...` line and exit status 1."""

from __future__ import annotations

from typing import Any

import click

from wearon.admin.check import check
from wearon.admin.dead import dead
from wearon.admin.queues import intake, queues
from wearon.admin.session import session
from wearon.errors import WearOnError


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WearOnError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Inspect, replay and repair wearon's queues and sessions."""


cli.add_command(dead)
cli.add_command(session)
cli.add_command(queues)
cli.add_command(intake)
cli.add_command(check)


def main() -> None:
    cli(prog_name="wearon-admin")
