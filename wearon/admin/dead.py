"""`wearon-admin dead list|show|replay|purge`: both dead-letter stores, the bridge's (payloads it
could not parse, with the reason) and Dramatiq's (messages that failed for good, with their last
error)."""

from __future__ import annotations

from typing import Any

import click

from wearon.admin import render
from wearon.admin.context import admin, confirm, emit, json_option, yes_option
from wearon.domain.dead_letter import DeadLetter, DeadLetterStore
from wearon.errors import OperationRefused

_STORES = click.Choice([s.value for s in DeadLetterStore])


@click.group()
def dead() -> None:
    """Dead letters of the bridge and of Dramatiq."""


@dead.command("list")
@click.option("--store", type=_STORES, help="Only this store.")
@json_option
def list_(store: str | None, as_json: bool) -> None:
    """Every dead letter, oldest first."""
    rows = [_row(x) for x in admin().dead_letters.all() if store in (None, x.store.value)]
    emit(rows, as_json, render.letters)


@dead.command()
@click.argument("letter_id")
@json_option
def show(letter_id: str, as_json: bool) -> None:
    """One dead letter whole: why it died, its session, its payload (an id's start will do)."""
    emit(_row(admin().dead_letters.find(letter_id)), as_json, render.fields)


@dead.command()
@click.argument("letter_id")
@yes_option
def replay(letter_id: str, yes: bool) -> None:
    """Re-validate and re-enqueue (refused when its session is already finished)."""
    letters = admin().dead_letters
    letter = letters.find(letter_id)
    confirm(yes, f"Replay {letter.store.value} dead letter {letter.id} ({letter.kind})?")
    letters.replay(letter)
    click.echo(f"replayed {letter.store.value} dead letter {letter.id} onto {_target(letter)}")


@dead.command()
@click.argument("letter_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every dead letter (of --store, if given).")
@click.option(
    "--store", type=click.Choice([s.value for s in DeadLetterStore]), help="With --all: only this store."
)
@yes_option
def purge(letter_ids: tuple[str, ...], everything: bool, store: str | None, yes: bool) -> None:
    """Delete dead letters for good."""
    letters = admin().dead_letters
    chosen = _chosen(letter_ids, everything, store)
    confirm(yes, f"Delete {len(chosen)} dead letters for good?")
    purged = sum(letters.purge(x) for x in chosen)
    click.echo(f"purged {purged} dead letters")


def _chosen(letter_ids: tuple[str, ...], everything: bool, store: str | None) -> list[DeadLetter]:
    letters = admin().dead_letters
    if everything == bool(letter_ids):
        raise OperationRefused("give dead letter ids, or --all")
    if everything:
        return [x for x in letters.all() if store in (None, x.store.value)]
    return [letters.find(letter_id) for letter_id in letter_ids]


def _target(letter: DeadLetter) -> str:
    return "the tasks list" if letter.store is DeadLetterStore.BRIDGE else f"Dramatiq queue {letter.queue}"


def _row(letter: DeadLetter) -> dict[str, Any]:
    return {**letter.to_json(), "age_s": round(letter.age_s(), 1)}
