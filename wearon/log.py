"""JSON-lines logging through loguru, for every process, with secrets scrubbed.

Each line carries `service` and, inside a task, the fields bound with
`logger.contextualize(request_id=..., task_id=..., session_id=..., channel=...)`.
Dramatiq's, uvicorn's and httpx's stdlib loggers are routed into the same sink.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

#: Fields a task binds; kept at the top level of each JSON line.
CONTEXT_FIELDS = ("request_id", "task_id", "session_id", "channel")
#: Kept at the top level too: the short id an internal_error session's message quotes, which
#: finds the line that holds its traceback (`{service="worker"} | json | error_id="..."`).
ERROR_ID = "error_id"
#: A stdlib record written outside the task's context may carry its fields in this attribute.
RECORD_FIELDS = "wearon_fields"
REDACTED = "[REDACTED]"

# Credentials that can show up inside URLs, headers or exception text even when we never log them on purpose.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # No backslash either: this runs over the JSON line, where it would eat a quote's escape.
    re.compile(r"(?i)((?:token|apikey|api_key|key|signature|sig|password)=)[^&\s\"'\\]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    re.compile(r"(redis|rediss|amqp|postgres(?:ql)?)://([^:/@\s]*):([^@\s]+)@"),
)
#: What every pattern above needs somewhere in the text: most lines skip the five substitutions.
_MAY_HOLD_CREDENTIAL = re.compile(r"(?i)bearer|=|sk-|eyJ|://")


class Redactor:
    """Removes known secret values and credential-shaped substrings from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        if not _MAY_HOLD_CREDENTIAL.search(text):
            return text
        for pattern in _PATTERNS:
            text = pattern.sub(_replacement(pattern), text)
        return text


def _replacement(pattern: re.Pattern[str]) -> str:
    if pattern.groups == 3:
        return rf"\1://\2:{REDACTED}@"
    return rf"\1{REDACTED}" if pattern.groups else REDACTED


class JsonSink:
    def __init__(self, service: str, redact: Redactor, stream: TextIO | None = None) -> None:
        self._service = service
        self._redact = redact
        self._stream = stream

    def __call__(self, message: Message) -> None:
        line = self._redact(json.dumps(self.to_dict(message.record), default=str))
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def to_dict(self, record: Record) -> dict[str, Any]:
        extra = dict(record["extra"])
        out: dict[str, Any] = {
            "ts": record["time"].isoformat(),
            "level": record["level"].name,
            "message": record["message"],
            "service": extra.pop("service", self._service),
            "logger": record["name"],
        }
        out.update({k: extra.pop(k) for k in (*CONTEXT_FIELDS, ERROR_ID) if k in extra})
        if extra:
            out["extra"] = extra
        if record["exception"] is not None:
            out.update(_exception_fields(record["exception"]))
        return out


def _exception_fields(exc: Any) -> dict[str, str]:
    """The exception in one line, and its whole traceback as one field (one JSON string, so one
    log line; scrubbed with the rest of the line)."""
    name = exc.type.__name__ if exc.type else "Exception"
    fields = {"exception": f"{name}: {exc.value}"}
    if exc.traceback is not None:
        fields["traceback"] = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    return fields


class InterceptHandler(logging.Handler):
    """Sends stdlib records (Dramatiq, uvicorn, httpx) to loguru, keeping the caller's depth."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno

        def rename(r: Record) -> None:
            r["name"] = record.name

        fields = getattr(record, RECORD_FIELDS, None) or {}
        logger.patch(rename).bind(**fields).opt(exception=record.exc_info).log(level, record.getMessage())


def configure_logging(
    service: str, *, level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Replace every handler with one JSON sink; idempotent, call once per process."""
    logger.remove()
    logger.configure(extra={"service": service})
    logger.add(JsonSink(service, Redactor(secrets), stream), level=level, backtrace=False, diagnose=False)
    # Stdlib records below our level would be built only to be dropped: not built at all.
    logging.basicConfig(handlers=[InterceptHandler()], level=level, force=True)
    for name in ("dramatiq", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "periodiq"):
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True
    # httpx logs every request URL at INFO; signed URLs carry tokens, so keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
