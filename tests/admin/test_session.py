"""`wearon-admin session show|fail-and-refund`, on PostgreSQL (behind the Supabase stand-in) and
on the embedded SQLite backend."""

from __future__ import annotations

from uuid import uuid4

import dramatiq
import pytest

from tests.actors.conftest import Backend
from tests.admin.conftest import AdminCli, Failures, admin_for
from wearon.domain.failure import FailureReason


def test_show_an_internal_error_with_its_error_id_and_the_query_for_its_traceback(
    wearon_admin: AdminCli, failures: Failures
) -> None:
    shown = wearon_admin.json("session", "show", failures.internal["session_id"])
    assert (shown["channel"], shown["status"]) == ("b2c", "failed")
    assert shown["claim"]["attempts"] == 1 and shown["refund"]["reason"] == shown["error_message"]
    error_id = shown["error_id"]
    assert f"(error id {error_id})" in shown["error_message"]
    assert shown["last_error"].startswith("IndexError: ")
    assert shown["request_id"] == failures.internal["request_id"]
    assert shown["logs"]["traceback"] == f'{{service="worker"}} | json | error_id="{error_id}"'
    assert shown["logs"]["request"] == f'{{service=~".+"}} | request_id="{failures.internal["request_id"]}"'


def test_show_a_moderation_failure_and_an_invalid_task_in_text(
    wearon_admin: AdminCli, failures: Failures
) -> None:
    moderated = wearon_admin.run("session", "show", failures.moderated["session_id"]).output
    assert "channel: b2b" in moderated and "status: failed" in moderated
    assert "last_error: ModerationBlocked: " in moderated and "error_id: -" in moderated
    invalid = wearon_admin.run("session", "show", failures.invalid["session_id"]).output
    assert "last_error: unsupported version: 2" in invalid and "claim: -" in invalid
    assert f'request_id="{failures.invalid["request_id"]}"' in invalid


def test_show_an_unknown_session_is_refused(wearon_admin: AdminCli, failures: Failures) -> None:
    result = wearon_admin.run("session", "show", str(uuid4()))
    assert result.exit_code == 1 and "in either channel" in result.output


@pytest.mark.parametrize("kind", ["supabase", "sqlite"])
def test_fail_and_refund_refunds_once_however_often_it_is_run(
    kind: str, backend: Backend, local_backend: Backend, worker_broker: dramatiq.Broker
) -> None:
    # Given a queued session whose credit was spent (on either backend)
    chosen = backend if kind == "supabase" else local_backend
    wearon_admin = AdminCli(admin_for(chosen, worker_broker))
    task = {"channel": "b2c", "user_id": str(uuid4()), "session_id": str(uuid4()), "prompt": "stuck"}
    chosen.open_session(task, balance=3)
    fail = ("session", "fail-and-refund", task["session_id"], "--reason", "stuck")
    # When an operator declines at the prompt, nothing changes
    assert wearon_admin.run(*fail, answer="n\n").exit_code == 1
    assert chosen.refunds(task) == 0 and chosen.balance_of(task) == 2
    # When the operator confirms, then runs it again
    first = wearon_admin.run(*fail, answer="y\n")
    again = wearon_admin.run(*fail, "--yes")
    # Then exactly one credit came back, with the reason's message for the user
    assert "one credit refunded" in first.output, first.output
    assert "not changed: it is already failed" in again.output
    assert chosen.refunds(task) == 1 and chosen.balance_of(task) == 3
    row = chosen.session_of(task)
    assert row is not None and row["error_message"] == FailureReason.STUCK.user_message
    assert wearon_admin.json("session", "show", task["session_id"])["refund"] is not None
