"""When a test may be skipped: only for a tool that is missing here and that a later CI step
installs and then runs those tests with. `.ci/run` runs `make test`, then `make check-ops`, which
installs nginx and promtool and reruns tests/ops; GitHub's CI, whose `make test` is not root, then
runs tests/cluster as root (`make test-cluster`). Any other skip fails the run, so that a skip can
never hide a failure (a crash taken for a flaky network, a tool nobody installs).

The allowed reasons are these constants, here and nowhere else; the tests that skip use them.
Loaded by tests/conftest.py as a plugin.
"""

from __future__ import annotations

import pytest

NGINX_MISSING = "nginx missing: `make check-ops` installs it and reruns tests/ops"
PROMTOOL_MISSING = "promtool missing: `make check-ops` installs it and reruns tests/ops"
NETNS_NEEDS_ROOT = "network namespaces need root: `sudo make test-cluster` runs tests/cluster"
#: Not allowed: where the kernel refuses network namespaces to root, the multi-host tests
#: (tests/cluster) say so, and the run fails rather than pass without them.
NETNS_REFUSED = "this kernel refuses network namespaces, bridges or veth pairs"
ALLOWED = frozenset({NGINX_MISSING, PROMTOOL_MISSING, NETNS_NEEDS_ROOT})

_unexpected: list[str] = []


def skip_reason(report: pytest.TestReport) -> str:
    """The reason a skipped test's report gives."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and skip_reason(report) not in ALLOWED:
        _unexpected.append(f"{report.nodeid}: {skip_reason(report)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected and exitstatus == pytest.ExitCode.OK and not hasattr(session.config, "workerinput"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _unexpected:
        terminalreporter.section(
            "skipped for a reason no later CI step covers (this fails the run)", red=True
        )
        for line in _unexpected:
            terminalreporter.line(line)
