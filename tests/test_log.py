from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from loguru import logger

from wearon.log import configure_logging

SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLXNlY3JldA"
OPENAI_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
REDIS_PASSWORD = "redis-pass-7f3k2"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("test", secrets=[SERVICE_KEY, OPENAI_KEY, REDIS_PASSWORD], stream=stream)
    yield stream
    logger.remove()


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_are_json_with_service_and_task_context(lines: io.StringIO) -> None:
    with logger.contextualize(request_id="req-42", task_id="t-1", session_id="s-1", channel="b2c"):
        logger.info("working")
        logging.getLogger("dramatiq.worker").warning("from the stdlib")
    first, second = records(lines)
    assert first["service"] == "test" and first["level"] == "INFO" and first["message"] == "working"
    assert {first["request_id"], second["request_id"]} == {"req-42"}
    assert second["logger"] == "dramatiq.worker"


@pytest.mark.parametrize(
    "text",
    [
        f"calling with key {OPENAI_KEY}",
        f"Authorization: Bearer {SERVICE_KEY}",
        f"redis://:{REDIS_PASSWORD}@redis:6379/0 refused",
        "signed https://x.supabase.co/storage/v1/object/sign/b/p.jpg?token=abc.def.ghi",
        "http://127.0.0.1:8000/files/p.jpg?expires=1&sig=deadbeefcafe",
        "apikey=some-unknown-secret-value",
    ],
)
def test_secrets_never_reach_a_line(lines: io.StringIO, text: str) -> None:
    logger.info(text)
    try:
        raise RuntimeError(text)
    except RuntimeError:
        logger.exception("it failed")
    out = lines.getvalue()
    for secret in (
        OPENAI_KEY,
        SERVICE_KEY,
        REDIS_PASSWORD,
        "abc.def.ghi",
        "deadbeefcafe",
        "some-unknown-secret",
    ):
        assert secret not in out
    assert "[REDACTED]" in out


def _fail_deep(text: str) -> None:
    raise ValueError(text)


def test_an_exception_logs_its_traceback_as_one_scrubbed_field(lines: io.StringIO) -> None:
    # Given an unexpected exception whose text holds a secret
    try:
        _fail_deep(f"bad call with {OPENAI_KEY}")
    except ValueError:
        # When it is logged with an error id
        logger.bind(error_id="ab12cd34").exception("unexpected")
    # Then one line holds the whole traceback, the frame that raised included, and no secret
    (line,) = lines.getvalue().splitlines()
    record = json.loads(line)
    assert record["error_id"] == "ab12cd34"
    trace = str(record["traceback"])
    assert trace.startswith("Traceback (most recent call last)") and "_fail_deep" in trace
    assert OPENAI_KEY not in line and "[REDACTED]" in trace


@pytest.mark.parametrize("text", ['password=abc"', "token=x\\", 'sig=1\\"2'])
def test_scrubbing_a_quoted_credential_keeps_the_line_json(lines: io.StringIO, text: str) -> None:
    try:
        _fail_deep(text)
    except ValueError:
        logger.exception("unexpected")
    record = json.loads(lines.getvalue())
    assert "[REDACTED]" in str(record["traceback"])
