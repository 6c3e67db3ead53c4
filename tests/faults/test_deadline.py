"""A hard deadline per task (issue 12.9): whatever the provider does, a real worker process fails
the session and refunds it once within its time limit + 5 s. The limit is shortened to 6 s; the
provider's own timeout and retries keep their production values, which alone would hold a silent
provider for (1 + 3) x 120 s plus back-off."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import FaultStack, started
from wearon.domain.task import Channel

TIME_LIMIT_S = 6
#: The issue's bound: failed and refunded within the time limit plus this.
GRACE_S = 5


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param("[standin:hang]", id="accepts-and-sends-nothing"),
        pytest.param("[standin:drip]", id="drips-a-byte-every-half-second"),
    ],
)
def test_a_task_ends_failed_and_refunded_within_its_time_limit(stack: FaultStack, provider: str) -> None:
    # Given production's provider timeout and retries, and a time limit of a few seconds
    stack.extra_env = {
        "TASK_TIME_LIMIT_S": str(TIME_LIMIT_S),
        "OPENAI_TIMEOUT_S": "120",
        "OPENAI_MAX_RETRIES": "3",
    }
    started(stack.bridge())
    started(stack.worker())
    # When the provider takes the request and never answers it
    pushed = time.monotonic()
    task = stack.push(Channel.B2C, f"{provider} deadline")
    stack.wait_terminal([task], timeout=TIME_LIMIT_S + GRACE_S + 60)
    took_s = time.monotonic() - pushed
    # Then the session is failed and refunded once, within the limit + 5 s
    assert stack.status(task) == "failed"
    assert stack.refunds(task) == 1
    stack.assert_balances([task])
    assert took_s <= TIME_LIMIT_S + GRACE_S, f"ended after {took_s:.1f} s"
