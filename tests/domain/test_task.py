from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from wearon.domain.task import MAX_PAYLOAD_BYTES, Channel, parse_task, salvage_session
from wearon.errors import InvalidTask


def payload(**overrides: object) -> dict[str, object]:
    task: dict[str, object] = {
        "task_id": "t-1",
        "channel": "b2c",
        "store_id": None,
        "user_id": "user-1",
        "session_id": str(uuid4()),
        "image_urls": ["https://project.supabase.co/storage/v1/object/public/in/a.jpg"],
        "prompt": "put the jacket on the person",
        "request_id": "req-1",
        "version": 1,
        "created_at": "2026-11-22T10:00:00Z",
    }
    task.update(overrides)
    return task


def raw(**overrides: object) -> bytes:
    return json.dumps(payload(**overrides)).encode()


def test_valid_b2c_task_stores_under_the_user() -> None:
    task = parse_task(raw(session_id="6f1c1b9e-1111-4222-8333-944455556666"))
    assert task.channel is Channel.B2C
    assert task.result_path == "generated/user-1/6f1c1b9e-1111-4222-8333-944455556666.jpg"


def test_valid_b2b_task_stores_under_the_store() -> None:
    task = parse_task(raw(channel="b2b", store_id="store-9", user_id=None, session_id=str(UUID(int=7))))
    assert task.result_path == f"stores/store-9/generated/{UUID(int=7)}.jpg"


@pytest.mark.parametrize(
    ("data", "kind", "needle"),
    [
        (b"{not json", "invalid_json", "invalid JSON"),
        (b"\xff\xfe\x00", "invalid_json", "invalid JSON"),
        (b"[1, 2]", "schema", "not a JSON object"),
        (raw(version=2), "version", "unsupported version: 2"),
        (raw(version="1"), "version", "unsupported version"),
        (raw(version=True), "version", "unsupported version"),
        (raw(version=None), "version", "unsupported version: None"),
        (raw(version=0), "version", "unsupported version: 0"),
        (raw(channel="b2x"), "schema", "channel"),
        (raw(channel="b2b", store_id=None), "schema", "b2b tasks require store_id"),
        (raw(user_id=None), "schema", "b2c tasks require user_id"),
        (raw(image_urls=[]), "schema", "image_urls"),
        (raw(image_urls=["file:///etc/passwd"]), "schema", "image_urls"),
        (raw(session_id="../../etc"), "schema", "session_id"),
        (raw(created_at="yesterday"), "schema", "created_at"),
        (b'{"version": 1}' + b" " * MAX_PAYLOAD_BYTES, "too_large", "payload too large"),
    ],
)
def test_invalid_payloads_say_why(data: bytes, kind: str, needle: str) -> None:
    with pytest.raises(InvalidTask) as caught:
        parse_task(data)
    assert caught.value.kind == kind
    assert needle in caught.value.reason


# --- what the app's TypeScript producer sends -----------------------------------------------------


def test_a_task_without_version_is_version_1() -> None:
    # The app's model declares `version: int = 1`, so its producer may leave it out.
    data = payload()
    del data["version"]
    assert parse_task(json.dumps(data).encode()).version == 1


def test_a_created_at_without_offset_is_utc() -> None:
    task = parse_task(raw(created_at="2026-11-22T10:00:00.123"))
    assert task.created_at == datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC)


def test_javascript_iso_strings_are_read_to_the_millisecond() -> None:
    # `new Date().toISOString()`
    task = parse_task(raw(created_at="2026-11-22T10:00:00.042Z"))
    assert task.created_at == datetime(2026, 11, 22, 10, 0, 0, 42000, tzinfo=UTC)


def test_unknown_fields_are_ignored_and_named() -> None:
    # An app deploy that adds a field must not dead-letter (and refund) every task.
    task = parse_task(raw(priority="high", locale="fr"))
    assert task.ignored_fields == frozenset({"priority", "locale"})
    assert "priority" not in task.model_dump()
    assert parse_task(raw()).ignored_fields == frozenset()


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "../etc", "a\\b", "a?b", "a#b", "a%2Fb", "a\x00b", "a\nb", "a\x7fb"]
)
@pytest.mark.parametrize("owner", ["user_id", "store_id"])
def test_an_owner_id_that_is_not_one_path_segment_is_refused(owner: str, bad: str) -> None:
    channel = "b2b" if owner == "store_id" else "b2c"
    others = {"user_id": None, "store_id": None, owner: bad}
    with pytest.raises(InvalidTask) as caught:
        parse_task(raw(channel=channel, **others))
    assert caught.value.kind == "schema"
    assert owner in caught.value.reason


@pytest.mark.parametrize("bad", ["../x", "a/b", "%2e%2e", "6f1c1b9e-1111-4222-8333-94445555666?"])
def test_a_session_id_that_is_not_a_uuid_is_refused(bad: str) -> None:
    with pytest.raises(InvalidTask) as caught:
        parse_task(raw(session_id=bad))
    assert "session_id" in caught.value.reason


def test_a_uuid_owner_is_one_path_segment() -> None:
    owner = str(uuid4())
    assert parse_task(raw(user_id=owner)).result_path.split("/")[1] == owner


def test_salvage_reads_channel_and_session_of_a_broken_task() -> None:
    session = uuid4()
    data = raw(session_id=str(session), version=9)
    assert salvage_session(data) == (Channel.B2C, session)


@pytest.mark.parametrize(
    "data", [b"{", raw(channel="nope"), raw(session_id="not-a-uuid"), raw(session_id=5), b"[]", b"null"]
)
def test_salvage_gives_up_cleanly(data: bytes) -> None:
    assert salvage_session(data) is None
