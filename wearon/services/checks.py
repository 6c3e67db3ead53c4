"""Whether this deployment lets the worker run: one verdict per dependency, one line each.

Every process that writes sessions (worker, bridge, scheduler) asks at start and exits on a
misconfiguration (`wearon.bootstrap.exit_if_misconfigured`); `wearon-admin check` prints the same
lines. A dependency that cannot be reached is an outage, not a misconfiguration: the processes
carry on and hold their tasks as at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wearon.errors import ConfigError, InfrastructureError, Misconfigured, WearOnError
from wearon.ports import BlobStore, SessionStore

_MIGRATION = "supabase/migrations/ (every file, in order)"


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str
    #: False when the dependency did not answer (an outage, which waiting may cure).
    reached: bool = True

    @property
    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def judge(name: str, check: Callable[[], str]) -> Verdict:
    """Run one check (it returns what it found, or raises what is wrong) into a verdict."""
    try:
        return Verdict(name, True, check())
    except Misconfigured as exc:
        return Verdict(name, False, f"{exc}{'; fix: ' + exc.remedy if exc.remedy else ''}")
    except InfrastructureError as exc:
        return Verdict(name, False, f"unreachable: {exc}", reached=False)
    except WearOnError as exc:
        return Verdict(name, False, str(exc))


def database(store: SessionStore) -> Callable[[], str]:
    def check() -> str:
        gaps = store.contract_gaps()
        if gaps:
            raise ConfigError(f"the database lacks {'; '.join(gaps)}; fix: apply {_MIGRATION}")
        return "the contract's functions, grants and the app's refund_credits are in place"

    return check


def storage(blobs: BlobStore, where: str) -> Callable[[], str]:
    def check() -> str:
        blobs.check()
        return f"{where} is there and ours to write"

    return check


def deployment(store: SessionStore, blobs: BlobStore, where: str) -> list[Verdict]:
    """The checks a process starting makes: the database contract and the results' storage."""
    return [judge("database", database(store)), judge("storage", storage(blobs, where))]


def misconfigured(verdicts: list[Verdict]) -> str | None:
    """One line naming every misconfiguration among `verdicts`, or None when there is none."""
    wrong = [f"{v.name}: {v.detail}" for v in verdicts if not v.ok and v.reached]
    return " | ".join(wrong) or None
