"""One request_id from LPUSH to the end, on every line each task causes, in the bridge and the worker.

A real bridge and worker log at DEBUG (every line Dramatiq, redis-py and we can write). Tasks take
each path: completed; refused by moderation (the refund middleware's lines); rate limited once,
then completed (Dramatiq's retry, through the delay queue); killed by the time limit (a line from
Dramatiq's timer thread); failed while the database is away (a deferred-refund message, another
actor). Lines are then selected two ways, and both must carry the task's request_id:

- by what they mention: the task's ids (request_id, task_id, session_id), closed over every id
  that appears on a line with them (so Dramatiq's message ids, and the deferred refund's);
- by when they were written: every line from the first push on carries one of the pushed tasks'
  request_ids, except redis-py's connection set-up (a new pooled connection, no task's doing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.faults.conftest import FaultStack
from tests.helpers.processes import Proc
from tests.observability.conftest import LEVELS, Line, booted, push, read_lines, settle, wait_for_line
from wearon.domain.task import Channel

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Lines no task causes: redis-py announcing a new connection's set-up.
BACKGROUND_LOGGERS = frozenset({"redis.connection"})
#: A line each path must write (with its task's request_id).
EXPECTED_LINES = {
    "completed": "generation completed",
    "moderation": "one credit refunded",
    "rate_limited": "Retrying message",
    "time_limit": "Time limit exceeded",
    "deferred": "deferred refund done",
}


def identifiers(task: dict[str, Any], lines: list[Line]) -> set[str]:
    """The task's ids, plus every UUID that shares a line with one of them, until nothing is added;
    but its owner's id, a uuid that the owner's other tasks carry too."""
    ids = {task["request_id"], task["task_id"], task["session_id"]}
    owner = {task.get("user_id"), task.get("store_id")}
    while True:
        grown = set(ids)
        for line in lines:
            if any(i in line.text for i in ids):
                grown.update(set(UUID_RE.findall(line.text)) - owner)
        if grown == ids:
            return ids
        ids = grown


def caused_by(task: dict[str, Any], lines: list[Line]) -> list[Line]:
    ids = identifiers(task, lines)
    return [line for line in lines if any(i in line.text for i in ids)]


def strays(lines: list[Line], request_ids: set[str]) -> list[str]:
    """Lines written while the tasks ran that carry none of their request_ids."""
    return [
        line.show()
        for line in lines
        if line.request_id not in request_ids
        and not (line.record and line.record.get("logger") in BACKGROUND_LOGGERS)
    ]


def trace_problems(name: str, task: dict[str, Any], lines: list[Line]) -> list[str]:
    caused = caused_by(task, lines)
    problems = [f"{name}: {line.show()}" for line in caused if line.request_id != task["request_id"]]
    for level, selected in (("DEBUG", caused), ("INFO", [c for c in caused if c.level >= LEVELS["INFO"]])):
        processes = {line.process for line in selected}
        if processes != {"bridge", "worker"}:
            problems.append(f"{name}: at {level} and above, lines only from {processes or 'no process'}")
    return problems


def written_since(procs: dict[str, Proc], marks: dict[str, int]) -> list[Line]:
    return [line for name, proc in procs.items() for line in read_lines(proc, marks[name])]


def test_every_line_a_task_causes_carries_its_request_id(stack_of: Callable[..., FaultStack]) -> None:
    # Given a bridge and a worker, logging everything, with a 3 s time limit
    stack = stack_of(TASK_TIME_LIMIT_S="3", INFRA_RETRY_FOR_S="0")
    procs = {"bridge": booted(stack.bridge(), "bridge"), "worker": booted(stack.worker(), "worker")}
    settle(1.0)
    marks = {name: len(read_lines(proc)) for name, proc in procs.items()}
    # When tasks take every path
    tasks = {
        "completed": push(stack, Channel.B2C, "trace ok"),
        "moderation": push(stack, Channel.B2B, "[standin:moderation] trace"),
        "rate_limited": push(stack, Channel.B2C, "[standin:429-once] trace"),
        "time_limit": push(stack, Channel.B2C, "[standin:drip] trace"),
    }
    stack.wait_terminal(list(tasks.values()), timeout=40)
    # and one fails while the database is away, so its refund is a message of its own
    stack.backend.simulate_outage()
    tasks["deferred"] = push(stack, Channel.B2B, "trace outage")
    wait_for_line(procs["worker"], lambda line: "refund deferred" in line.text, 20, "refund deferred")
    stack.backend.standin.outage = False  # type: ignore[union-attr]
    stack.wait_terminal([tasks["deferred"]], timeout=30)
    wait_for_line(procs["worker"], lambda line: "deferred refund done" in line.text, 20, "deferred refund")
    settle()
    lines = written_since(procs, marks)

    # Then every line a task caused carries its request_id, in both processes, and the path is
    # visible at the production level (INFO) too
    problems = [problem for name, task in tasks.items() for problem in trace_problems(name, task, lines)]
    # and no line written while they ran is left without one
    problems += strays(lines, {task["request_id"] for task in tasks.values()})
    # and the lines of each path are there, with the right request_id
    for name, text in EXPECTED_LINES.items():
        if not any(text in line.text and line.request_id == tasks[name]["request_id"] for line in lines):
            problems.append(f"{name}: no '{text}' line with its request_id")
    assert not problems, "\n".join(problems)
    assert [stack.refunds(tasks[name]) for name in EXPECTED_LINES] == [0, 1, 0, 1, 1]
    stack.assert_balances(list(tasks.values()))


def test_the_trace_selects_what_a_task_caused() -> None:
    # The selection the test above relies on: ids are closed over the lines that share them
    task = {"request_id": "req-1", "task_id": "t-1", "session_id": "11111111-1111-1111-1111-111111111111"}
    message = "22222222-2222-2222-2222-222222222222"
    lines = [
        Line("worker", f"Received generate(11111111-1111-1111-1111-111111111111) with id '{message}'", None),
        Line("worker", f"Pushing message '{message}' onto work queue.", None),
        Line("worker", "Pushing message '33333333-3333-3333-3333-333333333333' onto work queue.", None),
    ]
    assert caused_by(task, lines) == lines[:2]
