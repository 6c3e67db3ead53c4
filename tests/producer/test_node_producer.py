"""The app's own producer: a Node script with ioredis builds the payload as the Next.js API does
and LPUSHes it; the real bridge and worker processes complete it, against the app's database."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.faults.conftest import FaultStack, started
from tests.helpers.backends import SupabaseBackend, supabase_backend
from tests.helpers.postgres import build_test_database
from tests.helpers.processes import wait_until
from tests.standins.openai import OpenAIStandIn
from wearon import keys
from wearon.domain.task import Channel

PRODUCER = Path(__file__).resolve().parent / "push-task.mjs"
NODE = shutil.which("node")


def push_with_node(variant: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Run the app's producer; the payload it pushed, as it wrote it."""
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(PRODUCER), TEST_REDIS_URL, variant, json.dumps(fields)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pushed: dict[str, Any] = json.loads(done.stdout)
    return pushed


@pytest.fixture
def standin() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(latency_s=(0.1, 0.2), hang_s=60.0).served() as stand:
        yield stand


@pytest.fixture
def supabase() -> Iterator[SupabaseBackend]:
    build_test_database()
    with supabase_backend() as backend:
        yield backend


@pytest.mark.skipif(NODE is None, reason="node is not installed (make test needs Node 18+ and npm)")
def test_the_apps_payloads_are_completed_by_the_real_bridge_and_worker(
    tmp_path: Path,
    standin: OpenAIStandIn,
    images_url: str,
    supabase: SupabaseBackend,
    redis_client: redis.Redis,
) -> None:
    stack = FaultStack(tmp_path, standin, images_url, supabase)
    try:
        bridge = started(stack.bridge())
        started(stack.worker())
        # Given the app opens a session and pushes its task, as each of its deploys may write it
        tasks = [
            open_and_push(stack, variant, channel)
            for variant, channel in (
                ("with-version", Channel.B2C),
                ("without-version", Channel.B2B),
                ("extra-field", Channel.B2C),
            )
        ]
        # Then each is generated, stored in the app's bucket and completed, and nothing is refunded
        stack.wait_terminal(tasks, timeout=60)
        assert [stack.status(t) for t in tasks] == ["completed"] * 3
        for task in tasks:
            owner = task.get("user_id") or task["store_id"]
            path = f"generated/{owner}" if task["channel"] == "b2c" else f"stores/{owner}/generated"
            assert supabase.stored(f"{path}/{task['session_id']}.jpg")
        assert [stack.refunds(t) for t in tasks] == [0, 0, 0]
        stack.assert_balances(tasks)
        assert redis_client.llen(keys.DEAD_LETTERS) == 0
        # The payloads were the app's: one without version, one with a field of a later deploy
        assert ["version" in t for t in tasks] == [True, False, True]
        assert tasks[2]["priority"] == "normal" and all(t["created_at"].endswith("Z") for t in tasks)
        wait_until(lambda: "ignored: priority" in bridge.output(), 5, what="the new field named")
    finally:
        stack.stop()


def open_and_push(stack: FaultStack, variant: str, channel: Channel) -> dict[str, Any]:
    """What the Next.js API does: spend the credit, open the session, push the task (with Node)."""
    owner, session, prompt = stack.owners[channel], uuid4(), f"node producer {variant} {uuid4().hex[:6]}"
    assert stack.backend.open_session(channel, session, owner, prompt)
    fields = {
        "channel": channel.value,
        "owner_id": owner,
        "session_id": str(session),
        "image_urls": [f"{stack.images_url}/person.jpg", f"{stack.images_url}/garment.jpg"],
        "prompt": prompt,
    }
    pushed = push_with_node(variant, fields)
    assert UUID(pushed["session_id"]) == session
    return pushed
