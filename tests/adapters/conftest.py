"""Fixtures for the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.http_server import LocalHTTPServer


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A fresh local HTTP server per test: register routes on it, then read what it saw."""
    with LocalHTTPServer() as server:
        yield server
