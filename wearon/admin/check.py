"""`wearon-admin check`: is this deployment able to run? The checks every worker, bridge and
scheduler make at start (the database contract, the bucket), then Redis, the broker and the
provider key: one line each, exit status 1 when any fails."""

from __future__ import annotations

from dataclasses import asdict

import click

from wearon.admin.context import emit, json_option, settings
from wearon.bootstrap import check_everything


@click.command()
@json_option
def check(as_json: bool) -> None:
    """The database contract, the bucket, Redis, the broker and the provider key, one line each."""
    verdicts = check_everything(settings())
    emit([asdict(v) for v in verdicts], as_json, lambda _: "\n".join(v.line for v in verdicts))
    if not all(v.ok for v in verdicts):
        raise SystemExit(1)
