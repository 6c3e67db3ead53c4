"""Random payloads on the queue (a property-based generator over the task schema, plus raw bytes):
the bridge never crashes, and every payload ends dead-lettered with a reason or enqueued."""

from __future__ import annotations

import json
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bridge.test_bridge import Sink
from tests.conftest import TEST_REDIS_URL
from wearon import keys
from wearon.bridge.bridge import Bridge

FIELDS = ("task_id", "channel", "store_id", "user_id", "session_id", "image_urls", "prompt", "request_id")
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

valid_like = st.fixed_dictionaries(
    {
        "task_id": st.text(min_size=1, max_size=20),
        "channel": st.sampled_from(["b2b", "b2c", "B2C", "", "x"]),
        "store_id": st.one_of(st.none(), st.text(max_size=10)),
        "user_id": st.one_of(st.none(), st.text(max_size=10)),
        "session_id": st.one_of(st.uuids().map(str), st.text(max_size=40)),
        "image_urls": st.lists(
            st.sampled_from(["https://a.supabase.co/x.jpg", "ftp://x", "not a url", ""]), max_size=3
        ),
        "prompt": st.text(max_size=50),
        "request_id": st.text(max_size=20),
        "version": st.sampled_from([1, 2, "1", True, None, 1.0]),
        "created_at": st.sampled_from(["2026-11-22T10:00:00Z", "2026-11-22T10:00:00", "never", "", 0]),
    }
)
mutated = st.tuples(valid_like, st.sampled_from([*FIELDS, "version", "created_at", "extra"]), values).map(
    lambda t: {**{k: v for k, v in t[0].items() if k != t[1]}, **({t[1]: t[2]} if t[1] == "extra" else {})}
)
payloads = st.one_of(
    valid_like.map(lambda d: json.dumps(d).encode()),
    mutated.map(lambda d: json.dumps(d, default=str).encode()),
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.just(b'{"version": 1, "pad": "' + b"x" * 70_000 + b'"}'),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(payloads, min_size=1, max_size=8))
def test_every_payload_is_enqueued_or_dead_lettered(batch: list[bytes]) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(keys.TASKS, keys.DEAD_LETTERS, keys.bridge_processing("fuzz"))
    sink = Sink()
    bridge = Bridge(client, enqueue=sink.enqueue, refund=sink.refund, bridge_id="fuzz")
    client.lpush(keys.TASKS, *batch)
    while client.llen(keys.TASKS):  # (a step on an empty list would block for a second)
        bridge.step()
    dead: list[dict[str, Any]] = [json.loads(x) for x in client.lrange(keys.DEAD_LETTERS, 0, -1)]
    assert len(dead) + len(sink.enqueued) == len(batch)
    assert all(letter["reason"] and letter["kind"] for letter in dead)
    assert client.llen(keys.bridge_processing("fuzz")) == 0
    assert client.llen(keys.TASKS) == 0
    client.close()
