"""`inspect`, what `wearon-admin session show` reads, on both backends: the session of either
channel, our claim on it and its refund, and None for a session neither channel has."""

from __future__ import annotations

from typing import cast
from uuid import uuid4

from tests.contract.test_session_store import OWNER, SHOP, claimed, opened
from tests.helpers.backends import Backend
from wearon.domain.session import SessionStatus
from wearon.domain.task import Channel
from wearon.ports import SessionInspector


def inspector(backend: Backend) -> SessionInspector:
    return cast(SessionInspector, backend.store)


def test_a_claimed_session_shows_its_claim_and_no_refund(backend: Backend) -> None:
    session = claimed(backend, Channel.B2B, SHOP)
    report = inspector(backend).inspect(session)
    assert report is not None
    assert (report.channel, report.status, report.owner_id) == (Channel.B2B, SessionStatus.PROCESSING, SHOP)
    assert report.claim is not None and (report.claim.token, report.claim.attempts) == ("m1", 1)
    assert report.refund is None


def test_a_failed_session_shows_its_refund_and_error_id(backend: Backend) -> None:
    session = opened(backend)
    message = "The generation failed. Your credit has been refunded. (error id 0a1b2c3d)"
    assert backend.store.fail_and_refund(Channel.B2C, session, message)
    report = inspector(backend).inspect(session)
    assert report is not None and report.channel is Channel.B2C and report.owner_id == OWNER
    assert report.status is SessionStatus.FAILED and report.error_message == message
    assert report.refund is not None and report.refund.reason == message
    assert report.error_id == "0a1b2c3d" and report.to_json()["error_id"] == "0a1b2c3d"


def test_an_unknown_session_is_none(backend: Backend) -> None:
    assert inspector(backend).inspect(uuid4()) is None
