"""An unexpected error (a bug) in a generation: its traceback logged once under a short error id,
which the failed session's message quotes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from loguru import logger

from tests.actors.conftest import Backend, Pipeline
from tests.helpers.backends import SupabaseBackend
from wearon.actors import runtime
from wearon.domain.error_id import error_id_in
from wearon.domain.task import Channel
from wearon.log import configure_logging


class BuggyProvider:
    """An ImageProvider whose bug surfaces as a plain exception, as an unforeseen one would."""

    def edit(self, images: list[bytes], prompt: str) -> bytes:
        return _parse_answer({"data": []})


def _parse_answer(body: dict[str, list[str]]) -> bytes:
    return body["data"][0].encode()  # IndexError: the bug


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("worker", stream=stream)
    yield stream
    logger.remove()


def test_an_internal_error_quotes_the_error_id_of_its_logged_traceback(
    pipeline: Pipeline, backend: Backend, log_lines: io.StringIO
) -> None:
    # Given a worker whose provider call hits a bug
    services = runtime.services()
    runtime.install(replace(services, generation=replace(services.generation, provider=BuggyProvider())))
    # When a task runs
    task = pipeline.push(Channel.B2C, "a try-on that meets a bug")
    row = pipeline.wait_terminal(task)
    # Then the session is failed, refunded, and its message quotes an error id
    assert row["status"] == "failed" and backend.refunds(task) == 1
    error_id = error_id_in(row["error_message"])
    assert error_id is not None, row["error_message"]
    # And that id finds one log line with the whole traceback and the task's request id
    found = [r for r in map(json.loads, log_lines.getvalue().splitlines()) if r.get("error_id") == error_id]
    assert len(found) == 1
    assert found[0]["request_id"] == task["request_id"]
    assert "_parse_answer" in found[0]["traceback"] and "IndexError" in found[0]["traceback"]


class BuggyProviderDuringAnOutage(BuggyProvider):
    """The same bug, met while the database has gone away (the refund must then be deferred)."""

    def __init__(self, supabase: SupabaseBackend) -> None:
        self._supabase = supabase

    def edit(self, images: list[bytes], prompt: str) -> bytes:
        self._supabase.standin.outage = True
        return super().edit(images, prompt)


def test_a_deferred_refund_of_an_internal_error_still_quotes_its_error_id(
    pipeline: Pipeline, backend: Backend, log_lines: io.StringIO
) -> None:
    # Given the bug is met while the database is away, so the refund is deferred
    supabase = backend.inner
    assert isinstance(supabase, SupabaseBackend)
    services = runtime.services()
    buggy = BuggyProviderDuringAnOutage(supabase)
    runtime.install(replace(services, generation=replace(services.generation, provider=buggy)))
    task = pipeline.push(Channel.B2C, "a bug during an outage")
    pipeline.wait_for(lambda: bool(pipeline.waiting_refunds(task)))
    # When the database is back and the deferred refund lands
    supabase.standin.outage = False
    row = pipeline.wait_terminal(task, timeout=30)
    # Then the session quotes the error id the worker logged the traceback under
    error_id = error_id_in(row["error_message"])
    assert error_id is not None, row["error_message"]
    assert any(f'"error_id": "{error_id}"' in line for line in log_lines.getvalue().splitlines())
    assert backend.refunds(task) == 1
