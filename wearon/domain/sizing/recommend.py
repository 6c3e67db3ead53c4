"""From measurements to a size: the most probable band, a runner-up when close, a confidence.

The photo's girths are first adjusted for clothing and weight (`adjust`). Confidence =
P(recommended size) x mean landmark visibility x frontalness x the clothing factor. The first
factor is where the margin to the nearest band edge enters: a body in the middle of a band,
measured precisely, puts most of its probability there; one near an edge, or measured loosely,
does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wearon.domain.sizing.adjust import adjust
from wearon.domain.sizing.body_type import BodyType, classify_body_type
from wearon.domain.sizing.caveats import Caveat
from wearon.domain.sizing.chart import DEFAULT_CHART, SizeChart
from wearon.domain.sizing.measure import BodyMeasurement, Measurements

#: Assumption: a second size is worth showing when it is at least half as likely as the first.
RUNNER_UP_MIN_SHARE = 0.5


@dataclass(frozen=True)
class RunnerUp:
    size: str
    probability: float


@dataclass(frozen=True)
class Recommendation:
    size: str
    probability: float
    runner_up: RunnerUp | None
    probabilities: Mapping[str, float]
    confidence: float
    body_type: BodyType
    measurements: Measurements
    caveats: tuple[Caveat, ...] = ()
    chart_name: str = DEFAULT_CHART.name


def recommend(
    body: BodyMeasurement, chart: SizeChart = DEFAULT_CHART, weight_kg: float | None = None
) -> Recommendation:
    adjusted = adjust(body.measurements, chart.population, weight_kg)
    m = adjusted.measurements
    probabilities = chart.probabilities(m.chest, m.waist, m.hip)
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    (size, p_best), (second, p_second) = ranked[0], ranked[1]
    runner_up = RunnerUp(second, p_second) if p_second >= RUNNER_UP_MIN_SHARE * p_best else None
    confidence = p_best * body.visibility * body.frontalness * adjusted.confidence_factor
    return Recommendation(
        size=size,
        probability=p_best,
        runner_up=runner_up,
        probabilities=probabilities,
        confidence=min(1.0, max(0.0, confidence)),
        body_type=classify_body_type(m),
        measurements=m,
        caveats=adjusted.caveats,
        chart_name=chart.name,
    )
