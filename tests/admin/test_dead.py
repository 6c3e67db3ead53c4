"""`wearon-admin dead list|show|replay|purge` over both stores, on the real Redis broker and
PostgreSQL behind the Supabase stand-in."""

from __future__ import annotations

import io
import json
from typing import Any

import redis

from tests.actors.conftest import Backend, Pipeline
from tests.admin.conftest import AdminCli, Failures
from tests.domain.test_task import raw
from wearon import keys
from wearon.bridge.dead_letters import dead_letter
from wearon.domain.task import Channel
from wearon.errors import InvalidTask


def by_session(rows: list[dict[str, Any]], task: dict[str, Any]) -> dict[str, Any]:
    (row,) = [r for r in rows if r["session_id"] == task["session_id"]]
    return row


def test_list_shows_both_stores_with_why_each_died(wearon_admin: AdminCli, failures: Failures) -> None:
    rows = wearon_admin.json("dead", "list")
    assert len(rows) == 3
    invalid = by_session(rows, failures.invalid)
    assert (invalid["store"], invalid["kind"]) == ("bridge", "version")
    assert "unsupported version: 2" in invalid["reason"]
    moderated = by_session(rows, failures.moderated)
    assert (moderated["store"], moderated["queue"], moderated["kind"]) == (
        "dramatiq",
        "generation",
        "generate",
    )
    assert moderated["reason"].startswith("ModerationBlocked: ") and moderated["error_id"] is None
    internal = by_session(rows, failures.internal)
    assert internal["reason"].startswith("IndexError: ") and len(internal["error_id"]) == 8
    text = wearon_admin.run("dead", "list").output
    assert all(r["id"] in text for r in rows) and "ModerationBlocked" in text


def test_list_of_one_store(wearon_admin: AdminCli, failures: Failures) -> None:
    assert [r["store"] for r in wearon_admin.json("dead", "list", "--store", "bridge")] == ["bridge"]


def test_show_reads_one_by_the_start_of_its_id(wearon_admin: AdminCli, failures: Failures) -> None:
    internal = by_session(wearon_admin.json("dead", "list"), failures.internal)
    shown = wearon_admin.json("dead", "show", internal["id"][:8])
    assert shown["payload"]["args"][0]["request_id"] == failures.internal["request_id"]
    assert f"error_id: {internal['error_id']}" in wearon_admin.run("dead", "show", internal["id"]).output


def test_show_of_an_unknown_id_is_refused(wearon_admin: AdminCli, failures: Failures) -> None:
    result = wearon_admin.run("dead", "show", "nothing-like-it")
    assert result.exit_code == 1 and "0 dead letters match 'nothing-like-it'" in result.output


def test_replay_refuses_a_finished_session_and_a_payload_still_invalid(
    wearon_admin: AdminCli, failures: Failures
) -> None:
    rows = wearon_admin.json("dead", "list")
    moderated = by_session(rows, failures.moderated)["id"]
    refused = wearon_admin.run("dead", "replay", moderated, "--yes")
    assert refused.exit_code == 1 and "is already failed: not replayed" in refused.output
    invalid = by_session(rows, failures.invalid)["id"]
    refused = wearon_admin.run("dead", "replay", invalid, "--yes")
    assert refused.exit_code == 1 and "still invalid, not replayed: unsupported version: 2" in refused.output
    assert len(wearon_admin.json("dead", "list")) == 3


def test_replay_of_a_message_whose_session_the_app_recorded_late_completes_it(
    wearon_admin: AdminCli, pipeline: Pipeline, backend: Backend
) -> None:
    # Given a generation that died because its session row did not exist yet
    task = pipeline.task(Channel.B2C, "a session recorded late")
    pipeline.send(task)
    pipeline.wait_for(lambda: pipeline.dead_lettered() == 1)
    (letter,) = wearon_admin.json("dead", "list")
    assert letter["reason"].startswith("SessionNotFound")
    # When the row exists and the operator replays it
    backend.open_session(task, Pipeline.START_BALANCE)
    result = wearon_admin.run("dead", "replay", letter["id"], "--yes")
    # Then it runs again and completes, and the dead letter is gone
    assert result.exit_code == 0 and "onto Dramatiq queue generation" in result.output
    assert pipeline.wait_terminal(task)["status"] == "completed"
    assert wearon_admin.json("dead", "list") == []


def test_replay_of_a_bridge_payload_puts_it_back_on_the_tasks_list(
    wearon_admin: AdminCli, redis_client: redis.Redis, pipeline: Pipeline
) -> None:
    # Given a valid payload dead-lettered by a parser bug since fixed
    payload = raw(session_id="6f1c1b9e-1111-4222-8333-944455556666")
    redis_client.lpush(
        keys.DEAD_LETTERS, dead_letter(payload, InvalidTask("parser_error", "the parser failed"))
    )
    (letter,) = wearon_admin.json("dead", "list")
    # When it is replayed (the confirmation answered yes)
    result = wearon_admin.run("dead", "replay", letter["id"], answer="y\n")
    # Then the payload is back on the tasks list, byte for byte, and no longer dead
    assert result.exit_code == 0, result.output
    assert redis_client.lrange(keys.TASKS, 0, -1) == [payload]
    assert redis_client.llen(keys.DEAD_LETTERS) == 0


def test_purge_asks_first_and_deletes_only_what_it_names(wearon_admin: AdminCli, failures: Failures) -> None:
    rows = wearon_admin.json("dead", "list")
    moderated = by_session(rows, failures.moderated)["id"]
    declined = wearon_admin.run("dead", "purge", moderated, answer="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert len(wearon_admin.json("dead", "list")) == 3
    assert wearon_admin.run("dead", "purge", moderated, "--yes").output == "purged 1 dead letters\n"
    assert moderated not in {r["id"] for r in wearon_admin.json("dead", "list")}
    assert "purged 2 dead letters" in wearon_admin.run("dead", "purge", "--all", "--yes").output
    assert wearon_admin.json("dead", "list") == []


def test_the_internal_errors_id_finds_its_traceback(failures: Failures, log_lines: io.StringIO) -> None:
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (internal,) = [
        r for r in lines if r.get("error_id") and r.get("session_id") == failures.internal["session_id"]
    ]
    assert "Traceback (most recent call last)" in internal["traceback"]
