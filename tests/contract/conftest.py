"""`backend` runs a test once per storage backend; `supabase` for what only the Supabase path has.

The Supabase stand-in (and the supabase-py client) is made once per session and reset before each
test: empty tables and storage, no outage. That keeps the suite to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.backends import Backend, SupabaseBackend, sqlite_backend, supabase_backend
from tests.helpers.postgres import build_test_database


@pytest.fixture(scope="session")
def postgres_schema() -> None:
    build_test_database()


@pytest.fixture(scope="session")
def shared_supabase(postgres_schema: None) -> Iterator[SupabaseBackend]:
    with supabase_backend() as remote:
        yield remote


@pytest.fixture
def supabase(shared_supabase: SupabaseBackend) -> SupabaseBackend:
    shared_supabase.reset()
    return shared_supabase


@pytest.fixture(params=["sqlite", "supabase"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        with sqlite_backend(tmp_path) as local:
            yield local
    else:
        yield request.getfixturevalue("supabase")  # the stand-in starts only if a Supabase case runs
