"""Hostile payloads on the queue (property-based): every payload is generated together with its
fate, and the bridge must give it that fate. A valid task is enqueued (the accepted set); anything
else is dead-lettered with a reason, and refunded when its session is readable (UTF-8 JSON object,
a known channel, a UUID session_id), as the sink records.

The model of a valid task is the app's contract (issue 11): `version` may be left out (it is 1),
a `created_at` without an offset is UTC, a field we do not know is ignored, and an owner id must
be one storage path segment.

Generated: valid tasks (any Unicode, fields at their length limits, 1-8 URLs, any key order,
escapes, unknown extra fields, padding up to the 64 KiB cap); every field with every wrong JSON
type; missing fields;
wrong values of the right type; lone surrogates (escaped and as raw bytes); nesting of 1,000 to
100,000 levels; integers past Python's 4,300-digit limit; top-level arrays, strings, numbers, null;
payloads at the 64 KiB boundary; UTF-16, UTF-32 and BOM encodings; random bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from math import inf, nan
from typing import Any
from uuid import UUID

import pytest
import redis
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from tests.bridge.test_bridge import Sink
from tests.domain.test_task import payload
from wearon import keys
from wearon.bridge.bridge import Bridge
from wearon.domain.failure import FailureReason
from wearon.domain.task import MAX_PAYLOAD_BYTES, MAX_SALVAGE_BYTES, Channel

PROCESSING = keys.bridge_processing("fuzz")
Task = dict[str, Any]

# --- the contract's model of a valid task (what the fates below are computed from) --------------

#: The JSON types each field takes; every other type is refused.
FIELD_TYPES = {
    "task_id": {"string"},
    "channel": {"string"},
    "store_id": {"string", "null"},
    "user_id": {"string", "null"},
    "session_id": {"string"},
    "image_urls": {"array"},
    "prompt": {"string"},
    "request_id": {"string"},
    "version": {"integer"},
    "created_at": {"string"},
}
OWNER = {"b2b": "store_id", "b2c": "user_id"}
OTHER_OWNER = {"b2b": "user_id", "b2c": "store_id"}
#: May be left out: the other channel's owner, and the version (it is then 1).
OPTIONAL = ("store_id", "user_id", "version")
#: What an owner id may not hold, to stay one storage path segment (wearon.domain.storage_path).
UNSAFE_IN_IDS = "/\\%?#" + "".join(chr(c) for c in (*range(32), 127))
#: A payload that lacks a readable one of these cannot be refunded by the bridge.
SESSION_FIELDS = ("channel", "session_id")


@dataclass(frozen=True)
class Case:
    """One payload and its fate."""

    raw: bytes
    accepted: bool
    #: The dead letter's kind, where the payload determines it.
    kind: str | None = None
    #: The session a rejected payload's refund goes to, when it is readable.
    refund: tuple[Channel, UUID] | None = None
    #: The session an accepted task is enqueued for.
    session: UUID | None = None


def accept(task: Task, raw: bytes) -> Case:
    return Case(raw, accepted=True, session=UUID(task["session_id"]))


def reject(task: Task | None, raw: bytes, kind: str | None, *, readable: bool = True) -> Case:
    """`kind` unless the payload is over the cap, which is checked before anything else."""
    kind = "too_large" if len(raw) > MAX_PAYLOAD_BYTES else kind
    refund = None
    if task is not None and readable and len(raw) <= MAX_SALVAGE_BYTES:
        refund = (Channel(task["channel"]), UUID(task["session_id"]))
    return Case(raw, accepted=False, kind=kind, refund=refund)


def wrong_types(field: str, task: Task) -> list[str]:
    """Every JSON type the field refuses (null, too, for the owner the channel requires)."""
    refused = {"null", "boolean", "integer", "float", "string", "array", "object"} - FIELD_TYPES[field]
    return sorted(refused | ({"null"} if field == OWNER.get(task["channel"]) else set()))


def kind_of_field(field: str) -> str:
    return "version" if field == "version" else "schema"


# --- strategies -----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), finite, st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
OF_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(),
    "float": finite,  # (NaN and infinities are not JSON: `non_finite` below)
    "string": st.text(max_size=20),
    "array": st.lists(json_values, max_size=3),
    "object": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
}

safe_characters = st.characters(blacklist_characters=UNSAFE_IN_IDS, blacklist_categories=("Cs",))
ids = st.text(safe_characters, min_size=1, max_size=40).filter(lambda s: s not in (".", ".."))
ids |= st.sampled_from(["o" * 128, "é" * 128, "...", "\x85: C1 controls are fine"])
texts = st.text(min_size=1, max_size=60) | st.sampled_from(["t" * 128])
prompts = st.text(min_size=1, max_size=200) | st.sampled_from(["p" * 4000, "é" * 4000, "😀" * 4000])
urls = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["https", "http"]),
    st.sampled_from(["project.supabase.co", "127.0.0.1:8080", "[::1]", "xn--bcher-kva.example"]),
    st.from_regex(r"[a-z0-9._~/-]{0,40}(\?token=[A-Za-z0-9]{1,20})?", fullmatch=True),
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(
    lambda moment, tz, ms: moment.replace(tzinfo=tz).isoformat(timespec="milliseconds" if ms else "auto"),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    st.none() | st.just(UTC) | offsets,  # no offset: UTC
    st.booleans(),
).map(lambda text: text.replace("+00:00", "Z"))
styles = st.sampled_from(
    [
        {},
        {"ensure_ascii": False},  # raw UTF-8, not \\u escapes
        {"indent": 2},
        {"separators": (",", ":")},
    ]
)


@st.composite
def valid_tasks(draw: st.DrawFn) -> Task:
    channel = draw(st.sampled_from(["b2b", "b2c"]))
    owner, other = OWNER[channel], OWNER["b2c" if channel == "b2b" else "b2b"]
    task: Task = {
        "task_id": draw(texts),
        "channel": channel,
        owner: draw(ids),
        other: draw(st.none() | ids),
        "session_id": str(draw(st.uuids())),
        "image_urls": draw(st.lists(urls, min_size=1, max_size=8)),
        "prompt": draw(prompts),
        "request_id": draw(texts),
        "version": 1,
        "created_at": draw(times),
    }
    order = draw(st.permutations(list(task)))
    return {key: task[key] for key in order}


@st.composite
def encoded(draw: st.DrawFn, value: Any) -> bytes:
    return json.dumps(value, **draw(styles)).encode("utf-8", "surrogatepass")


@st.composite
def valid(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    return accept(task, draw(encoded(task)))


@st.composite
def wrong_typed(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    field = draw(st.sampled_from(sorted(FIELD_TYPES)))
    value = draw(OF_TYPE[draw(st.sampled_from(wrong_types(field, task)))])
    spoiled = {**task, field: value}
    return reject(task, draw(encoded(spoiled)), kind_of_field(field), readable=field not in SESSION_FIELDS)


@st.composite
def missing_field(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    field = draw(st.sampled_from(sorted(FIELD_TYPES)))
    spoiled = {k: v for k, v in task.items() if k != field}
    raw = draw(encoded(spoiled))
    if field in OPTIONAL and field != OWNER[task["channel"]]:
        return accept(task, raw)
    return reject(task, raw, kind_of_field(field), readable=field not in SESSION_FIELDS)


#: Right type, wrong value: (field, value, kind); the owner's entries apply to the channel's owner.
WRONG_VALUES: list[tuple[str, Any, str]] = [
    ("task_id", "", "schema"),
    ("task_id", "t" * 129, "schema"),
    ("request_id", "", "schema"),
    ("request_id", "r" * 129, "schema"),
    ("prompt", "", "schema"),
    ("prompt", "p" * 4001, "schema"),
    ("owner", "", "schema"),
    ("owner", "o" * 129, "schema"),
    ("owner", "..", "schema"),
    ("owner", "a/b", "schema"),
    ("owner", "a%2Fb", "schema"),
    ("owner", "a\x00b", "schema"),
    ("other", "../x", "schema"),  # the other channel's owner, when given, is held to it too
    ("other", "", "schema"),
    ("channel", "B2C", "schema"),
    ("channel", "", "schema"),
    ("session_id", "not-a-uuid", "schema"),
    ("session_id", "../../etc", "schema"),
    ("image_urls", [], "schema"),
    ("image_urls", ["https://project.supabase.co/a.jpg"] * 9, "schema"),
    ("image_urls", ["ftp://project.supabase.co/a.jpg"], "schema"),
    ("image_urls", ["file:///etc/passwd"], "schema"),
    ("image_urls", ["not a url"], "schema"),
    ("image_urls", [1], "schema"),
    ("version", 0, "version"),
    ("version", 2, "version"),
    ("version", int("9" * 4300), "version"),  # the longest integer Python converts
    ("created_at", "never", "schema"),
    ("created_at", "", "schema"),
    ("created_at", "1700000000", "schema"),  # a number in a string is not an ISO 8601 time
    ("created_at", "2026-11-22", "schema"),  # a date
]


@st.composite
def wrong_value(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    field, value, kind = draw(st.sampled_from(WRONG_VALUES))
    field = (
        {"owner": OWNER, "other": OTHER_OWNER}[field][task["channel"]]
        if field in ("owner", "other")
        else field
    )
    return reject(task, draw(encoded({**task, field: value})), kind, readable=field not in SESSION_FIELDS)


@st.composite
def extra_fields(draw: st.DrawFn) -> Case:
    """Fields the app may add in a later deploy: ignored, the task accepted."""
    task = draw(valid_tasks())
    names = st.text(max_size=30).filter(lambda name: name not in FIELD_TYPES)
    extra = draw(st.dictionaries(names, json_values, min_size=1, max_size=3))
    return accept(task, draw(encoded({**task, **extra})))


@st.composite
def lone_surrogate(draw: st.DrawFn) -> Case:
    """Not Unicode text: refused by the decoder, escaped (\\udc00) or as raw UTF-8 bytes alike."""
    task = draw(valid_tasks())
    field = draw(st.sampled_from(["task_id", "prompt", "request_id", OWNER[task["channel"]]]))
    surrogate = chr(draw(st.integers(0xD800, 0xDFFF)))
    spoiled = {**task, field: task[field][:10] + surrogate}
    return reject(task, draw(encoded(spoiled)), "invalid_json", readable=False)


def nested(depth: int, pair: tuple[bytes, bytes], task: Task, field: str | None) -> Case:
    """Arrays or objects `depth` levels deep, as the payload or as one field's value."""
    value = pair[0] * depth + b"0" + pair[1] * depth
    raw = value if field is None else json.dumps({**task, field: "@"}).encode().replace(b'"@"', value)
    return reject(None, raw, "invalid_json")


def huge_number(digits: int, sign: bytes, task: Task, field: str | None) -> Case:
    """An integer past Python's 4,300-digit conversion limit, as the payload or as a field's value."""
    value = sign + b"7" * digits
    raw = value if field is None else json.dumps({**task, field: "@"}).encode().replace(b'"@"', value)
    return reject(None, raw, "invalid_json")


fields_or_whole = st.sampled_from([None, *FIELD_TYPES])
deep = st.builds(
    nested,
    st.integers(1000, 100_000),
    st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")]),
    valid_tasks(),
    fields_or_whole,
)
huge_numbers = st.builds(
    huge_number, st.integers(4301, 30_000), st.sampled_from([b"", b"-"]), valid_tasks(), fields_or_whole
)


@st.composite
def non_finite(draw: st.DrawFn) -> Case:
    """NaN or an infinity, which json.dumps writes (and JSON does not have) in any field."""
    task = draw(valid_tasks())
    spoiled = {**task, draw(st.sampled_from(sorted(FIELD_TYPES))): draw(st.sampled_from([nan, inf, -inf]))}
    return reject(None, draw(encoded(spoiled)), "invalid_json")


@st.composite
def not_an_object(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    value = draw(st.sampled_from([[task], [], task["prompt"], None, 1, 1.5, True]) | OF_TYPE["string"])
    return reject(None, draw(encoded(value)), "schema")


@st.composite
def at_the_size_cap(draw: st.DrawFn) -> Case:
    """A valid task padded with whitespace to the cap, or a few bytes over it."""
    task = draw(valid_tasks())
    raw = draw(encoded(task))
    over = draw(st.integers(-2, 3))
    assume(len(raw) <= MAX_PAYLOAD_BYTES - 2)
    padded = raw[:-1] + b" " * (MAX_PAYLOAD_BYTES + over - len(raw)) + raw[-1:]
    return accept(task, padded) if over <= 0 else reject(task, padded, "too_large")


@st.composite
def foreign_encoding(draw: st.DrawFn) -> Case:
    task = draw(valid_tasks())
    text = json.dumps(task)
    codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"]))
    return reject(None, text.encode(codec), "invalid_json")


random_bytes = st.binary(max_size=2000).map(lambda raw: reject(None, raw, None))

payloads = st.one_of(
    valid(),
    extra_fields(),
    wrong_typed(),
    missing_field(),
    wrong_value(),
    lone_surrogate(),
    non_finite(),
    deep,
    huge_numbers,
    not_an_object(),
    at_the_size_cap(),
    foreign_encoding(),
    random_bytes,
)


# --- the bridge, and the checks ---------------------------------------------------------------------


def run_bridge(client: redis.Redis, cases: list[Case]) -> tuple[Sink, list[dict[str, str]]]:
    """Push the payloads as the Next.js API does and let one bridge handle them all."""
    client.delete(keys.TASKS, keys.DEAD_LETTERS, PROCESSING)
    sink = Sink()
    bridge = Bridge(client, enqueue=sink.enqueue, refund=sink.refund, bridge_id="fuzz")
    client.lpush(keys.TASKS, *(case.raw for case in cases))
    while client.llen(keys.TASKS):  # (a step on an empty list would block for a second)
        bridge.step()
    letters = [json.loads(x) for x in reversed(client.lrange(keys.DEAD_LETTERS, 0, -1))]
    return sink, letters


def check_fates(client: redis.Redis, cases: list[Case]) -> None:
    sink, letters = run_bridge(client, cases)
    # The accepted set: exactly the valid tasks, in push order
    assert [t.session_id for t in sink.enqueued] == [c.session for c in cases if c.accepted]
    # The rejected set: each one dead-lettered, whole, with a reason and the expected kind
    rejected = [c for c in cases if not c.accepted]
    assert [_raw_of(letter) for letter in letters] == [c.raw for c in rejected]
    assert all(letter["reason"] for letter in letters)
    for case, letter in zip(rejected, letters, strict=True):
        assert case.kind is None or letter["kind"] == case.kind, (letter["reason"], case.raw[:200])
    # Refunded exactly when the session is readable
    assert sink.refunds == [(*c.refund, FailureReason.INVALID_TASK) for c in rejected if c.refund]
    assert client.llen(PROCESSING) == 0


def _raw_of(letter: dict[str, str]) -> bytes:
    import base64

    return letter["raw"].encode() if "raw" in letter else base64.b64decode(letter["raw_b64"])


FUZZ = settings(
    max_examples=150,
    # Explaining a failure re-runs it hundreds of times: minutes, for a line of comment.
    phases=[phase for phase in Phase if phase is not Phase.explain],
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


#: The extremes, whatever the draw: 1,000 and 100,000 levels, 4,301 digits, the cap and a byte past it.
EXTREMES = [
    nested(1000, (b"[", b"]"), payload(), None),
    nested(100_000, (b'{"a":', b"}"), payload(), "prompt"),
    huge_number(4301, b"", payload(), None),
    huge_number(4301, b"-", payload(), "version"),
]


@FUZZ
@example(cases=EXTREMES)
@given(cases=st.lists(payloads, min_size=1, max_size=8))
def test_each_payload_meets_its_fate(redis_client: redis.Redis, cases: list[Case]) -> None:
    check_fates(redis_client, cases)


@pytest.mark.parametrize("field", sorted(FIELD_TYPES))
def test_every_field_with_every_wrong_type(redis_client: redis.Redis, field: str) -> None:
    # Given one valid task per channel, and that task with the field set to each refused type
    cases = []
    for channel in ("b2b", "b2c"):
        task = payload(channel=channel, store_id="store-1" if channel == "b2b" else None)
        cases.append(accept(task, json.dumps(task).encode()))
        for json_type in wrong_types(field, task):
            value = {"null": None, "boolean": True, "integer": 7, "float": 1.0, "string": "1"}.get(
                json_type, [] if json_type == "array" else {}
            )
            raw = json.dumps({**task, field: value}).encode()
            cases.append(reject(task, raw, kind_of_field(field), readable=field not in SESSION_FIELDS))
    # Then each is dead-lettered (and refunded where readable), and the valid ones enqueued
    check_fates(redis_client, cases)
    assert len(cases) > 2
