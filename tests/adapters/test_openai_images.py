"""The OpenAI adapter against the OpenAI stand-in, over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from PIL import Image
from pydantic import SecretStr

from tests.standins.openai import API_KEY, OpenAIStandIn
from tests.standins.openai_answers import RETRY_AFTERS, SERVER_ERRORS
from wearon.adapters.openai_images import OpenAIImageProvider
from wearon.errors import ModerationBlocked, ProviderBadResponse, ProviderRateLimited, ProviderUnavailable

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[OpenAIStandIn, str]]:
    with OpenAIStandIn(hang_s=5.0).served() as stand:
        yield stand, stand.base_url


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.gate_calls = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def take(self) -> Recorder:
        self.gate_calls += 1
        return self

    def trace(self, event: str, info: dict[str, object]) -> None:
        pass


def provider(url: str, rec: Recorder, *, key: str = API_KEY, timeout_s: float = 5.0) -> OpenAIImageProvider:
    return OpenAIImageProvider(
        base_url=url,
        api_key=SecretStr(key),
        model="gpt-image-1.5",
        max_retries=3,
        timeout_s=timeout_s,
        gate=rec,
        sleep=rec.sleep,
    )


def test_success_returns_the_decoded_image(standin: tuple[OpenAIStandIn, str]) -> None:
    stand, url = standin
    rec = Recorder()
    data = provider(url, rec).edit([JPEG, JPEG], "ok prompt 1")
    # Asked for as JPEG, so the worker can store it as it comes, without decoding and re-encoding
    assert stand.output_formats[-1] == "jpeg"
    assert data.startswith(b"\xff\xd8")
    assert rec.gate_calls == 1
    assert stand.images_received[-1] == 2


def test_429_raises_rate_limited_with_the_retry_after_sent(standin: tuple[OpenAIStandIn, str]) -> None:
    # Given 429s whose retry-after differs from one to the next, or is absent (as OpenAI's do)
    stand, url = standin
    rec = Recorder()
    caught = []
    for n in range(len(RETRY_AFTERS)):
        with pytest.raises(ProviderRateLimited) as raised:
            provider(url, rec).edit([JPEG], f"[standin:429-always] a{n}")
        caught.append(raised.value.retry_after_s)
    # Then each error carries the value that was sent, and None where none was
    sent = [answer.headers.get("retry-after") for answer in stand.answers_to("[standin:429-always] a")]
    assert caught == [None if value is None else float(value) for value in sent]
    assert None in caught and len(set(caught)) == len(RETRY_AFTERS)
    assert rec.sleeps == []  # the 429 retry belongs to Dramatiq, not the client


@pytest.mark.parametrize(("sent", "expected"), [("1", 1.0), ("59", 59.0), ("none", None)])
def test_a_429_is_not_retried_in_the_client_whatever_its_retry_after(
    standin: tuple[OpenAIStandIn, str], sent: str, expected: float | None
) -> None:
    stand, url = standin
    rec = Recorder()
    prompt = f"[standin:429-always;retry-after={sent}] a"
    with pytest.raises(ProviderRateLimited) as caught:
        provider(url, rec).edit([JPEG], prompt)
    assert caught.value.retry_after_s == expected
    assert (rec.sleeps, rec.gate_calls, stand.count(prompt)) == ([], 1, 1)
    [answer] = stand.answers_to(prompt)
    assert answer.headers["x-ratelimit-remaining-requests"] == "0"


def test_an_exhausted_quota_is_a_rate_limit(standin: tuple[OpenAIStandIn, str]) -> None:
    # OpenAI answers an exhausted quota with a 429 too, without retry-after: retried once by the
    # policy like any 429, then failed and refunded
    rec = Recorder()
    with pytest.raises(ProviderRateLimited) as caught:
        provider(standin[1], rec).edit([JPEG], "[standin:quota] q")
    assert caught.value.retry_after_s is None
    assert "exceeded your current quota" in str(caught.value)
    assert rec.sleeps == []


def test_moderation_block_is_recognised(standin: tuple[OpenAIStandIn, str]) -> None:
    with pytest.raises(ModerationBlocked):
        provider(standin[1], Recorder()).edit([JPEG], "[standin:moderation] b")


@pytest.mark.parametrize("answer", SERVER_ERRORS)
def test_every_5xx_backs_off_inside_the_client_then_succeeds(
    standin: tuple[OpenAIStandIn, str], answer: str
) -> None:
    # Given one 5xx: OpenAI's JSON (500, 503), or the proxy's (a JSON 502, an HTML 502 or 504 page)
    stand, url = standin
    rec = Recorder()
    prompt = f"[standin:5xx-once;answer={answer}] c"
    # Then the client backs off once and gets the image
    assert provider(url, rec).edit([JPEG], prompt).startswith(b"\xff\xd8")
    assert rec.sleeps == [1.0]
    assert rec.gate_calls == 2  # every HTTP call spends a rate-limit slot
    assert [a.status for a in stand.answers_to(prompt)] == [int(answer[:3]), 200]


def test_5xx_exhausted_is_unavailable(standin: tuple[OpenAIStandIn, str]) -> None:
    stand, url = standin
    rec = Recorder()
    with pytest.raises(ProviderUnavailable):
        provider(url, rec).edit([JPEG], "[standin:5xx-always] d")
    assert rec.sleeps == [1.0, 2.0, 4.0]
    assert stand.count("[standin:5xx-always] d") == 4


def test_an_html_gateway_page_is_unavailable_not_a_bad_response(standin: tuple[OpenAIStandIn, str]) -> None:
    stand, url = standin
    rec = Recorder()
    with pytest.raises(ProviderUnavailable) as caught:
        provider(url, rec).edit([JPEG], "[standin:5xx-always;answer=502-html] d")
    assert "HTTP 502" in str(caught.value)
    assert "<html>" not in str(caught.value)  # a page is not an error message
    assert rec.sleeps == [1.0, 2.0, 4.0]
    assert {a.headers["content-type"] for a in stand.answers_to("answer=502-html] d")} == {
        "text/html; charset=utf-8"
    }


def test_timeout_is_retried(standin: tuple[OpenAIStandIn, str]) -> None:
    rec = Recorder()
    result = provider(standin[1], rec, timeout_s=0.5).edit([JPEG], "[standin:timeout-once] e")
    assert result.startswith(b"\xff\xd8")
    assert rec.sleeps == [1.0]


@pytest.mark.parametrize("fault", ["garbage", "bad-request"])
def test_unusable_answers_are_bad_responses(standin: tuple[OpenAIStandIn, str], fault: str) -> None:
    with pytest.raises(ProviderBadResponse):
        provider(standin[1], Recorder()).edit([JPEG], f"[standin:{fault}] f")


def test_wrong_key_fails_without_leaking_the_key(standin: tuple[OpenAIStandIn, str]) -> None:
    secret = "sk-wrong-key-that-must-not-leak-123456"
    with pytest.raises(ProviderBadResponse) as caught:
        provider(standin[1], Recorder(), key=secret).edit([JPEG], "g")
    assert "401" in str(caught.value)
    assert secret not in str(caught.value)


def test_unreachable_provider_is_unavailable() -> None:
    rec = Recorder()
    with pytest.raises(ProviderUnavailable):
        provider("http://127.0.0.1:9/v1", rec).edit([JPEG], "h")
    assert len(rec.sleeps) == 3


def test_standin_result_is_a_real_image(standin: tuple[OpenAIStandIn, str]) -> None:
    import io

    data = provider(standin[1], Recorder()).edit([JPEG], "ok prompt 2")
    assert Image.open(io.BytesIO(data)).size == (64, 96)


def test_every_thread_in_flight_reaches_the_provider_at_once() -> None:
    # Given one provider shared by more worker threads than httpx's default pool holds (100)
    with OpenAIStandIn(latency_s=(3.0, 3.0)).served() as stand:
        shared = provider(stand.base_url, Recorder())
        threads = [threading.Thread(target=shared.edit, args=([JPEG], f"in flight {n}")) for n in range(130)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shared.close()
    # Then no call waited for another's 3 s answer before it was sent (our rate limiter has let
    # each through already: a late call bunches up with the next ones)
    assert len(stand.calls) == 130
    assert max(stand.calls) - min(stand.calls) < 2.5
