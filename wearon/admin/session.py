"""`wearon-admin session show|fail-and-refund`: one session, whichever channel it is in."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import click

from wearon.admin import render
from wearon.admin.context import admin, confirm, emit, json_option, yes_option
from wearon.domain.dead_letter import DeadLetter
from wearon.domain.failure import FailureReason
from wearon.domain.session_report import SessionReport
from wearon.errors import OperationRefused


@click.group()
def session() -> None:
    """A generation session: read it, or fail it and refund its credit."""


@session.command()
@click.argument("session_id", type=click.UUID)
@json_option
def show(session_id: UUID, as_json: bool) -> None:
    """Its row, claim and attempts, refund, last error, and the log queries that follow it."""
    report = _report(session_id)
    letters = [x for x in admin().dead_letters.all() if x.session and x.session[1] == session_id]
    emit(_shown(report, letters), as_json, render.fields)


@session.command("fail-and-refund")
@click.argument("session_id", type=click.UUID)
@click.option(
    "--reason",
    required=True,
    type=click.Choice([r.value for r in FailureReason]),
    help="Why; the user reads this reason's message on the session.",
)
@yes_option
def fail_and_refund(session_id: UUID, reason: str, yes: bool) -> None:
    """Fail a queued or processing session and refund its credit, through the worker's own
    contract call: at most once, however often it is run."""
    report = _report(session_id)
    confirm(yes, f"Fail {report.channel.value} session {session_id} ({report.status.value}) and refund it?")
    why = FailureReason(reason)
    if admin().store.fail_and_refund(report.channel, session_id, why.user_message):
        click.echo(f"session {session_id} failed ({why.value}); one credit refunded")
    else:
        click.echo(f"session {session_id} not changed: it is already {_report(session_id).status.value}")


def _report(session_id: UUID) -> SessionReport:
    report = admin().store.inspect(session_id)
    if report is None:
        raise OperationRefused(f"no session {session_id} in either channel")
    return report


def _shown(report: SessionReport, letters: list[DeadLetter]) -> dict[str, Any]:
    request_id = next(filter(None, map(_request_id, reversed(letters))), None)
    return {
        **report.to_json(),
        "last_error": letters[-1].reason if letters else report.error_message,
        "dead_letters": {x.id: f"{x.store.value} {x.queue}: {x.reason}" for x in letters},
        "request_id": request_id,
        "logs": log_queries(report, request_id),
    }


def log_queries(report: SessionReport, request_id: str | None) -> dict[str, str]:
    """LogQL for Grafana's Explore (Loki): session_id and request_id are structured metadata, the
    error id a JSON field of the line that holds the traceback."""
    queries = {"session": f'{{service=~".+"}} | session_id="{report.session_id}"'}
    if request_id:
        queries["request"] = f'{{service=~".+"}} | request_id="{request_id}"'
    if report.error_id:
        queries["traceback"] = f'{{service="worker"}} | json | error_id="{report.error_id}"'
    return queries


def _request_id(letter: DeadLetter) -> str | None:
    """The request id a dead letter's task carries, when it can be read."""
    payload = letter.payload
    task = payload["args"][0] if payload.get("args") else None
    if task is None and "raw" in payload:
        try:
            task = json.loads(payload["raw"])
        except ValueError:
            return None
    found = task.get("request_id") if isinstance(task, dict) else None
    return found if isinstance(found, str) else None
