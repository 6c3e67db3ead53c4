"""The fault tests' image server and OpenAI stand-in: the producer test runs the same real
bridge and worker processes (tests/faults/conftest.py's FaultStack)."""

from __future__ import annotations

from tests.faults.conftest import images_url, standin

__all__ = ["images_url", "standin"]
