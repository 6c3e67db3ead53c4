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
