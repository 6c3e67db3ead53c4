"""Dead letters kept DEAD_LETTER_RETENTION_DAYS: the bridge's list pruned past it (Dramatiq's own
expire through the broker's dead_message_ttl), and the oldest one's age published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dramatiq
import redis

from tests.conftest import TEST_NAMESPACE, TEST_REDIS_URL
from wearon import bootstrap, keys, metrics
from wearon.adapters.dead_letters.bridge import BridgeDeadLetters
from wearon.adapters.dead_letters.dramatiq import DramatiqDeadLetters
from wearon.bridge.dead_letters import dead_letter
from wearon.bridge.retention import DeadLetterRetention
from wearon.errors import InvalidTask
from wearon.settings import Settings

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
QUEUES = ("generation",)


def retention(client: redis.Redis) -> DeadLetterRetention:
    return DeadLetterRetention(
        BridgeDeadLetters(client),
        DramatiqDeadLetters(client, TEST_NAMESPACE, QUEUES),
        queues=QUEUES,
        retention=timedelta(days=30),
    )


def dead_at(client: redis.Redis, days_ago: float, text: str) -> None:
    error = InvalidTask("schema", text)
    client.lpush(keys.DEAD_LETTERS, dead_letter(text.encode(), error, now=NOW - timedelta(days=days_ago)))


def oldest_age(store: str) -> float:
    return float(metrics.DEAD_LETTER_OLDEST_AGE.labels(store=store)._value.get())


def test_the_bridges_dead_letters_past_the_retention_are_pruned_oldest_first(
    redis_client: redis.Redis,
) -> None:
    # Given dead letters 31, 30.5, 29 and 2 days old (pushed oldest first, as the bridge does)
    for days, text in ((31, "a"), (30.5, "b"), (29, "c"), (2, "d")):
        dead_at(redis_client, days, text)
    # When the retention runs
    ages = retention(redis_client).run_once(now=NOW)
    # Then the two past 30 days are gone, and the oldest kept (29 days) is published
    kept = [json.loads(r)["raw"] for r in redis_client.lrange(keys.DEAD_LETTERS, 0, -1)]
    assert kept == ["d", "c"]
    assert ages["bridge"] == oldest_age("bridge") == timedelta(days=29).total_seconds()


def test_the_oldest_dramatiq_dead_letter_is_published_and_its_old_error_record_pruned(
    redis_client: redis.Redis,
) -> None:
    # Given a dead message 3 days old, and an error record past the retention
    two = NOW - timedelta(days=3)
    redis_client.zadd(f"{TEST_NAMESPACE}:generation.XQ", {"m-1": two.timestamp() * 1000})
    old = {"id": "m-0", "error": "old", "error_id": None, "at": (NOW - timedelta(days=31)).isoformat()}
    redis_client.hset(keys.DRAMATIQ_DEAD_ERRORS, "m-0", json.dumps(old))
    # When the retention runs
    ages = retention(redis_client).run_once(now=NOW)
    # Then its age is published (nothing in the bridge's list: 0) and the old record is gone
    assert ages == {"bridge": 0.0, "dramatiq:generation": timedelta(days=3).total_seconds()}
    assert oldest_age("dramatiq:generation") == timedelta(days=3).total_seconds()
    assert redis_client.hlen(keys.DRAMATIQ_DEAD_ERRORS) == 0


def test_dramatiqs_dead_letters_expire_after_the_same_retention() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=TEST_REDIS_URL,
        dramatiq_namespace=TEST_NAMESPACE,
        dead_letter_retention_days=45,
    )
    previous = dramatiq.get_broker()
    broker = bootstrap.build_messaging(settings).broker
    dramatiq.set_broker(previous)
    assert broker.dead_message_ttl == 45 * 86_400_000  # type: ignore[attr-defined]
    assert Settings(_env_file=None).dead_letter_retention_days == 30  # type: ignore[call-arg]
