"""The running generation's hard deadline: every network wait inside it is cut to the time left.

The generation actor opens it for the thread that runs the attempt (`running`); the adapters size
their timeouts with `cut` and ask `check` before starting something new (a provider call, a
back-off). A context variable rather than an argument through every port: the deadline belongs
to the attempt, and every adapter under it (download, provider, storage, database) must honour
it. Outside an attempt (the API, the bridge, the refund after a failure) there is none, and each
adapter's own timeout holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from wearon.errors import TaskDeadlineExceeded

#: The monotonic time the running attempt must have ended by, or None outside an attempt.
_ENDS: ContextVar[float | None] = ContextVar("wearon_task_deadline", default=None)
#: The shortest timeout handed out: a call started at the deadline fails at once, not with 0 (which
#: httpx reads as "no timeout" in places).
MIN_TIMEOUT_S = 0.05


@contextmanager
def running(seconds: float) -> Iterator[None]:
    """The calling thread's attempt must end within `seconds`."""
    token = _ENDS.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _ENDS.reset(token)


def left_s() -> float | None:
    """Seconds the running attempt has left (negative once passed), or None outside one."""
    ends = _ENDS.get()
    return None if ends is None else ends - time.monotonic()


def cut(cap_s: float) -> float:
    """`cap_s`, or the time the attempt has left if that is shorter."""
    left = left_s()
    return cap_s if left is None else max(min(cap_s, left), MIN_TIMEOUT_S)


def check(what: str) -> None:
    """Raise TaskDeadlineExceeded if the attempt has no time left to start `what`."""
    left = left_s()
    if left is not None and left <= 0:
        raise TaskDeadlineExceeded(f"the task's deadline passed before {what}")


def allows(pause_s: float) -> bool:
    """Whether a pause of `pause_s` still leaves the attempt some time."""
    left = left_s()
    return left is None or left > pause_s
