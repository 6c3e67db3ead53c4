"""The provider is paid at most once per image (issue 12.7): a generated image is kept until it is
stored, through storage failures in the attempt and across the task's retries, on the real Redis
and PostgreSQL, with the Supabase stand-in dropping uploads' connections."""

from __future__ import annotations

import redis

from tests.actors.conftest import Backend, Pipeline
from tests.helpers.backends import SupabaseBackend
from tests.standins.openai import OpenAIStandIn, result_image
from wearon import keys
from wearon.domain.task import Channel
from wearon.services.generation import UPLOAD_BACKOFF_S


def storage_of(backend: Backend) -> SupabaseBackend:
    supabase = backend.inner
    assert isinstance(supabase, SupabaseBackend)
    return supabase


def assert_paid_once_and_completed(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn, task: dict[str, str]
) -> None:
    assert pipeline.wait_terminal(task, timeout=60)["status"] == "completed"
    assert standin.count(task["prompt"]) == 1
    assert backend.refunds(task) == 0
    assert backend.balance_of(task) == pipeline.START_BALANCE - 1
    assert backend.stored(f"generated/{task['user_id']}/{task['session_id']}.jpg") == result_image("jpeg")


def test_an_upload_whose_connection_drops_is_retried_in_place(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn, redis_client: redis.Redis
) -> None:
    # Given storage drops the connection under the first upload, after the provider was paid
    storage = storage_of(backend)
    storage.standin.dropped_uploads = 1
    task = pipeline.push(Channel.B2C, "upload dropped once")
    # Then the same attempt uploads again: one provider call, completed, nothing refunded
    assert_paid_once_and_completed(pipeline, backend, standin, task)
    assert storage.standin.uploads == 2
    # and the kept image is gone once stored
    assert not redis_client.exists(keys.kept_result("b2c", task["session_id"]))


def test_storage_failing_past_the_attempt_keeps_the_image_for_the_retry(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn, redis_client: redis.Redis
) -> None:
    # Given storage drops every upload of the first attempt, and the retry's first one too
    storage = storage_of(backend)
    storage.standin.dropped_uploads = len(UPLOAD_BACKOFF_S) + 2
    task = pipeline.push(Channel.B2C, "storage away for a while")
    # Then the retry stores the image the first attempt was given, without a second provider call
    assert_paid_once_and_completed(pipeline, backend, standin, task)
    assert storage.standin.uploads == len(UPLOAD_BACKOFF_S) + 3
    assert not redis_client.exists(keys.kept_result("b2c", task["session_id"]))


def test_a_copy_of_a_message_delivered_while_its_attempt_runs_waits_for_it(
    pipeline: Pipeline, backend: Backend, standin: OpenAIStandIn
) -> None:
    # Given a generation in the provider for 0.8 s (the pipeline's client waits 1 s)
    standin.latency_s = (0.8, 0.8)
    try:
        task = pipeline.task(Channel.B2C, "copy delivered while the first attempt runs")
        backend.open_session(task, Pipeline.START_BALANCE)
        message = pipeline.broker.get_actor("generate").message(task)
        pipeline.broker.enqueue(message)
        pipeline.wait_for(lambda: standin.count(task["prompt"]) == 1)
        # When a copy of the same message (its id) is delivered meanwhile, as the broker hands a
        # host's messages to another once that host's heartbeat is stale (cut off from Redis)
        pipeline.broker.enqueue(message)
        # Then the copy waits for the running attempt instead of calling the provider again
        row = pipeline.wait_terminal(task, timeout=30)
        pipeline.drain(timeout=30)
    finally:
        standin.latency_s = (0.0, 0.0)
    assert row["status"] == "completed"
    assert standin.count(task["prompt"]) == 1
    assert backend.refunds(task) == 0
    assert backend.balance_of(task) == Pipeline.START_BALANCE - 1
