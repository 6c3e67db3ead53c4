"""The shop's own chart and the person's weight, over real photos."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers.http_server import LocalHTTPServer

SHOP_CHART: dict[str, Any] = {
    "name": "Acme regular fit",
    "population": "men",
    "sizes": [
        {"size": "1", "chest": [80, 92], "waist": [68, 80]},
        {"size": "2", "chest": [92, 100], "waist": [80, 88]},
        {"size": "3", "chest": [100, 108], "waist": [88, 96]},
        {"size": "4", "chest": [108, 120], "waist": [96, 110]},
    ],
}


def ask(api: httpx.Client, url: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/estimate-body", json={"image_url": url, "height_cm": 175} | extra)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_merchant_chart_decides_the_size_and_is_named(api: httpx.Client, photos: LocalHTTPServer) -> None:
    body = ask(api, photos.url("/person.png"), size_chart=SHOP_CHART)
    assert body["size_chart"] == "Acme regular fit"
    assert list(body["size_probabilities"]) == ["1", "2", "3", "4"]
    assert body["recommended_size"] in {"1", "2", "3", "4"}
    assert sum(body["size_probabilities"].values()) == pytest.approx(1.0, abs=0.01)


def test_the_same_body_on_a_chart_cut_larger_gets_a_smaller_label(
    api: httpx.Client, photos: LocalHTTPServer
) -> None:
    # Given the shop chart, and the same chart with every range 8 cm larger (a size further on),
    larger = {
        **SHOP_CHART,
        "name": "Acme cut larger",
        "sizes": [
            {
                "size": s["size"],
                "chest": [s["chest"][0] + 8, s["chest"][1] + 8],
                "waist": [s["waist"][0] + 8, s["waist"][1] + 8],
            }
            for s in SHOP_CHART["sizes"]
        ],
    }
    regular = ask(api, photos.url("/person.png"), size_chart=SHOP_CHART)
    cut_larger = ask(api, photos.url("/person.png"), size_chart=larger)
    assert int(cut_larger["recommended_size"]) < int(regular["recommended_size"])


def test_a_built_in_chart_is_chosen_by_name(api: httpx.Client, photos: LocalHTTPServer) -> None:
    women = ask(api, photos.url("/person.png"), size_chart="womens_tops")
    men = ask(api, photos.url("/person.png"))
    assert women["size_chart"] == "women's tops (EN 13402-3 letter codes)"
    assert men["size_chart"] == "men's/unisex tops (EN 13402-3 letter codes)"
    assert ask(api, photos.url("/person.png"), size_chart="mens_tops")["size_chart"] == men["size_chart"]


def test_a_weight_narrows_the_girths_and_changes_the_confidence(
    api: httpx.Client, photos: LocalHTTPServer
) -> None:
    without = ask(api, photos.url("/person.png"))
    with_weight = ask(api, photos.url("/person.png"), weight_kg=80)
    # The photo's chest is the loosest (the depth ratio's spread); the survey's the tightest (3%).
    assert with_weight["uncertainty_cm"]["chest"] < 0.5 * without["uncertainty_cm"]["chest"]
    for girth in ("waist", "hip"):
        assert with_weight["uncertainty_cm"][girth] < 0.75 * without["uncertainty_cm"][girth], girth
    # Breadths are the photo's alone.
    assert with_weight["uncertainty_cm"]["waist_width"] == without["uncertainty_cm"]["waist_width"]
    assert with_weight["confidence"] != without["confidence"]
    assert with_weight["warnings"] == []


def test_a_weight_the_survey_never_saw_for_this_height_is_not_used(
    api: httpx.Client, photos: LocalHTTPServer
) -> None:
    body = ask(api, photos.url("/person.png"), weight_kg=300)
    assert [w["code"] for w in body["warnings"]] == ["weight_not_used"]
    assert body["measurements"] == ask(api, photos.url("/person.png"))["measurements"]
