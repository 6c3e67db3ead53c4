"""`wearon-admin queues` and `wearon-admin intake pause|resume`."""

from __future__ import annotations

import getpass

import click

from wearon.admin import render
from wearon.admin.context import admin, confirm, emit, json_option, yes_option


@click.command()
@json_option
def queues(as_json: bool) -> None:
    """Depths and oldest ages: the tasks list, each bridge's in-flight list, Dramatiq's queues
    (waiting, in flight in workers, delayed retries, dead)."""
    emit(admin().queues.report(), as_json, render.fields)


@click.group()
def intake() -> None:
    """Stop or restart the bridges taking tasks (they wait on the list; nothing is lost)."""


@intake.command()
@yes_option
def pause(yes: bool) -> None:
    """Every bridge stops taking tasks off the list, within a second."""
    confirm(yes, "Pause intake? Tasks will wait on the list until `intake resume`.")
    admin().intake.pause(by=getpass.getuser())
    click.echo("intake paused: tasks wait on the list")


@intake.command()
@yes_option
def resume(yes: bool) -> None:
    """The bridges take tasks again."""
    confirm(yes, "Resume intake?")
    was_paused = admin().intake.resume()
    click.echo("intake resumed" if was_paused else "intake was not paused")
