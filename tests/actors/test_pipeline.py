"""The generation pipeline in a real Dramatiq worker: real Redis broker, real PostgreSQL behind the
Supabase adapter (through its HTTP stand-in), the OpenAI stand-in over HTTP.

Every failure rule of the product spec, each with the session's final state and refund count.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import dramatiq
import pytest

from tests.actors.conftest import Backend, Pipeline
from tests.helpers.backends import SupabaseBackend
from tests.standins.openai import OpenAIStandIn, result_image
from wearon import metrics
from wearon.actors import generation
from wearon.domain.task import Channel


def failures(channel: str, reason: str) -> float:
    return float(metrics.GENERATIONS.labels(channel=channel, outcome="failed", reason=reason)._value.get())


def test_b2c_generation_completes_without_refund(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.push(Channel.B2C, "a plain try-on")
    row = pipeline.wait_terminal(task)
    assert row["status"] == "completed"
    assert row["result_url"]
    assert backend.refunds(task) == 0
    assert backend.balance_of(task) == pipeline.START_BALANCE - 1
    stored = backend.stored(f"generated/{task['user_id']}/{task['session_id']}.jpg")
    assert stored is not None and stored[:2] == b"\xff\xd8"  # a JPEG
    assert stored == result_image("jpeg")  # the provider's, as it came: not decoded and re-encoded


def test_b2b_result_lands_under_the_store(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    task = pipeline.push(Channel.B2B, "a store try-on")
    assert pipeline.wait_terminal(task)["status"] == "completed"
    assert backend.stored(f"stores/{task['store_id']}/generated/{task['session_id']}.jpg") is not None
    assert standin.images_received[-1] == 2  # person and garment, both sent


def test_first_429_requeues_then_retries_once_after_10_s(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    # Given a 429 whose retry-after (2 s) is not our 10 s: the wait is the README's, not the header's
    task = pipeline.push(Channel.B2C, "[standin:429-once;retry-after=2]")
    # While it waits for its retry the session is back to queued, and nothing is refunded
    pipeline.wait_for(lambda: standin.count(task["prompt"]) == 1)
    pipeline.wait_for(lambda: backend.session_of(task)["status"] == "queued")
    assert backend.refunds(task) == 0
    row = pipeline.wait_terminal(task, timeout=30)
    assert row["status"] == "completed"
    assert backend.refunds(task) == 0
    first, second = pipeline.call_times(task)
    assert second - first >= 10.0
    assert standin.answers_to(task["prompt"])[0].headers["retry-after"] == "2"


def test_second_429_is_final_with_one_refund(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    task = pipeline.push(Channel.B2C, "[standin:429-always]")
    row = pipeline.wait_terminal(task, timeout=30)
    assert row["status"] == "failed"
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
    assert standin.count(task["prompt"]) == 2


def test_moderation_block_fails_at_once_with_friendly_message(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    task = pipeline.push(Channel.B2B, "[standin:moderation]")
    row = pipeline.wait_terminal(task)
    assert row["status"] == "failed"
    assert "content safety filter" in row["error_message"]
    assert backend.refunds(task) == 1
    assert standin.count(task["prompt"]) == 1


def test_5xx_then_success_completes(pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn) -> None:
    task = pipeline.push(Channel.B2C, "[standin:5xx-once]")
    assert pipeline.wait_terminal(task)["status"] == "completed"
    assert backend.refunds(task) == 0
    assert standin.count(task["prompt"]) == 2


def test_5xx_exhausted_fails_with_one_refund(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    task = pipeline.push(Channel.B2C, "[standin:5xx-always]")
    assert pipeline.wait_terminal(task)["status"] == "failed"
    assert backend.refunds(task) == 1
    assert standin.count(task["prompt"]) == pipeline.MAX_RETRIES + 1


def test_timeout_once_is_retried_in_the_client(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.push(Channel.B2C, "[standin:timeout-once]")
    assert pipeline.wait_terminal(task)["status"] == "completed"
    assert backend.refunds(task) == 0


def test_provider_that_keeps_timing_out_fails_with_one_refund(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.push(Channel.B2C, "[standin:hang]")
    assert pipeline.wait_terminal(task, timeout=30)["status"] == "failed"
    assert backend.refunds(task) == 1


def test_garbage_response_fails_with_one_refund(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.push(Channel.B2C, "[standin:garbage]")
    assert pipeline.wait_terminal(task)["status"] == "failed"
    assert backend.refunds(task) == 1


@pytest.mark.parametrize("path", ["/page.html", "/missing.jpg"])
def test_refused_download_fails_with_one_refund_and_no_provider_call(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn, path: str
) -> None:
    task = pipeline.push(Channel.B2C, "bad input image", image_paths=["/person.jpg", path])
    row = pipeline.wait_terminal(task)
    assert row["status"] == "failed"
    assert "could not be used" in row["error_message"]
    assert backend.refunds(task) == 1
    assert standin.count(task["prompt"]) == 0


def test_host_outside_the_allow_list_is_refused(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.push(Channel.B2C, "foreign host", urls=["http://localhost.example.invalid/a.jpg"])
    assert pipeline.wait_terminal(task)["status"] == "failed"
    assert backend.refunds(task) == 1


def test_duplicate_task_completes_once_and_charges_once(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    # Given the same task delivered twice (pushed twice, or re-driven by the bridge)
    task = pipeline.push(Channel.B2C, "duplicate", copies=2)
    row = pipeline.wait_terminal(task)
    pipeline.drain()
    # Then one generation, one completed session, no refund, one credit spent
    assert row["status"] == "completed"
    assert standin.count(task["prompt"]) == 1
    assert backend.refunds(task) == 0
    assert backend.balance_of(task) == pipeline.START_BALANCE - 1


def test_redelivered_message_after_completion_changes_nothing(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    task = pipeline.push(Channel.B2C, "late redelivery")
    first = pipeline.wait_terminal(task)
    pipeline.push_existing(task)
    pipeline.drain()
    assert backend.session_of(task) == first
    assert standin.count(task["prompt"]) == 1
    assert backend.refunds(task) == 0


def test_unknown_session_is_dead_lettered_without_refund(pipeline: Pipeline, backend: Backend) -> None:
    task = pipeline.task(Channel.B2C, "no session row")  # never opened: the API did not record it
    pipeline.send(task)
    pipeline.drain()
    assert backend.session_of(task) is None
    assert backend.refunds(task) == 0
    assert pipeline.dead_lettered() >= 1


def test_time_limit_fails_and_refunds(pipeline: Pipeline, backend: Backend) -> None:
    # The 300 s limit, shortened for this message: proves TimeLimit is armed in our worker. The
    # client alone would give up only after ~6 s of timeouts and back-off.
    before = failures("b2c", "time_limit")
    task = pipeline.push(Channel.B2C, "[standin:hang] slow", options={"time_limit": 1500})
    row = pipeline.wait_terminal(task, timeout=30)
    assert row["status"] == "failed"
    assert backend.refunds(task) == 1
    assert failures("b2c", "time_limit") == before + 1


def test_the_local_backend_runs_the_same_pipeline(local_pipeline: Pipeline, local_backend: Backend) -> None:
    task = local_pipeline.push(Channel.B2B, "embedded backend")
    assert local_pipeline.wait_terminal(task)["status"] == "completed"
    assert local_backend.stored(f"stores/{task['store_id']}/generated/{task['session_id']}.jpg") is not None
    failed = local_pipeline.push(Channel.B2C, "[standin:moderation] embedded")
    assert local_pipeline.wait_terminal(failed)["status"] == "failed"
    assert local_backend.refunds(failed) == 1


def test_many_tasks_each_end_once(pipeline: Pipeline, backend: Backend) -> None:
    faults = ["", "[standin:moderation]", "[standin:5xx-once]", "[standin:garbage]"]
    tasks: list[dict[str, Any]] = [
        pipeline.push(Channel.B2C if n % 2 else Channel.B2B, f"{faults[n % 4]} n{n} {uuid4()}")
        for n in range(24)
    ]
    rows = [pipeline.wait_terminal(t, timeout=60) for t in tasks]
    for task, row in zip(tasks, rows, strict=True):
        failed = row["status"] == "failed"
        assert backend.refunds(task) == (1 if failed else 0)
    assert sum(r["status"] == "failed" for r in rows) == 12


def test_refund_blocked_by_a_database_outage_is_deferred_until_it_returns(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    supabase = backend.inner
    assert isinstance(supabase, SupabaseBackend)
    before = failures("b2c", "provider_unavailable")
    # Given a generation that will fail, and the database goes away while it is in the provider
    task = pipeline.push(Channel.B2C, "[standin:5xx-always] outage")
    pipeline.wait_for(lambda: standin.count(task["prompt"]) == 1)
    supabase.standin.outage = True

    # When it fails for good, the refund cannot be written: it waits in the broker as a message of
    # its own, which the worker has already tried (and been refused) while the database was away
    def tried_and_refused() -> bool:
        return any(m["options"].get("retries", 0) >= 1 for m in pipeline.waiting_refunds(task))

    pipeline.wait_for(tried_and_refused)
    [waiting] = pipeline.waiting_refunds(task)
    assert waiting["args"] == ["b2c", task["session_id"], "provider_unavailable"]
    assert pipeline.dead_lettered() == 1  # the generation itself is over
    supabase.standin.outage = False
    # Then once the database is back the deferred refund lands, exactly once
    row = pipeline.wait_terminal(task, timeout=30)
    assert row["status"] == "failed"
    assert backend.refunds(task) == 1
    assert backend.balance_of(task) == pipeline.START_BALANCE
    # and it is counted once, under the generation's own reason
    pipeline.wait_for(lambda: failures("b2c", "provider_unavailable") == before + 1)


def test_a_renamed_generation_actor_still_refunds(
    pipeline: Pipeline, backend: Backend, worker_broker: dramatiq.Broker
) -> None:
    # Given the generation actor declared under another name, as a rename would leave it
    renamed = dramatiq.actor(actor_name="generate_v2", broker=worker_broker, **generation.OPTIONS)(
        generation.generate
    )
    task = pipeline.task(Channel.B2C, "[standin:moderation] renamed")
    backend.open_session(task, pipeline.START_BALANCE)
    # When its generation fails
    renamed.send(task)
    # Then the session is failed and its credit comes back, as under the old name
    assert pipeline.wait_terminal(task)["status"] == "failed"
    assert backend.balance_of(task) == pipeline.START_BALANCE
    assert backend.refunds(task) == 1


def test_a_retry_after_the_upload_completes_without_paying_the_provider_again(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    # Given the database drops the call that completes the session, after the result was stored
    supabase = backend.inner
    assert isinstance(supabase, SupabaseBackend)
    supabase.standin.failing_calls["wearon_complete_session"] = 1
    task = pipeline.push(Channel.B2C, "completion lost once")
    # When the task is retried, then it completes from the stored result, with one provider call
    assert pipeline.wait_terminal(task, timeout=20)["status"] == "completed"
    assert standin.count(task["prompt"]) == 1
    assert backend.refunds(task) == 0
    assert supabase.standin.failing_calls["wearon_complete_session"] == 0
